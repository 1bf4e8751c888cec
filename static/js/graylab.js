// Site-wide behaviour. No inline script anywhere: the Content-Security-Policy forbids it.
(function () {
  "use strict";
  // Keep keyboard focus after an htmx swap: focus the first element marked data-autofocus.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.target;
    var focus = (target || document).querySelector("[data-autofocus]");
    if (focus) { focus.focus({ preventScroll: false }); }
  });

  // Pages show times in the viewer's zone: tell the server which zone the browser is in.
  var TZ_COOKIE = "graylab_tz";
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var current = document.cookie.split("; ").filter(function (part) {
      return part.indexOf(TZ_COOKIE + "=") === 0;
    })[0];
    if (zone && current !== TZ_COOKIE + "=" + encodeURIComponent(zone)) {
      document.cookie = TZ_COOKIE + "=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (error) { /* no Intl time zone: the server keeps its own */ }

  // A button or form marked data-confirm asks before it goes ahead (a <dialog> would need a
  // page of its own; the browser's confirm is enough for one sentence).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  }, true);
})();

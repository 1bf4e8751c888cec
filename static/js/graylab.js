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

// Character counters: a field with data-max-chars shows, in the element whose data-count-for
// names it, how many characters are left, or how many too many. The field never cuts text
// itself (a paste over the limit stays whole and the server says it is too long); the count
// is the server's: surrounding whitespace dropped, a line break sent as two characters,
// characters counted as code points.
(function () {
  "use strict";
  function serverLength(value) {
    return Array.from(value.trim().replace(/\r?\n/g, "\r\n")).length;
  }
  function update(counter) {
    var field = document.getElementById(counter.getAttribute("data-count-for"));
    if (!field) { return; }
    var limit = parseInt(field.getAttribute("data-max-chars") || "0", 10);
    if (!limit) { return; }
    var left = limit - serverLength(field.value || "");
    var over = left < 0;
    counter.textContent = over
      ? (-left).toLocaleString() + " character" + (left === -1 ? "" : "s") + " over the limit of " + limit.toLocaleString()
      : left.toLocaleString() + " character" + (left === 1 ? "" : "s") + " left";
    counter.classList.toggle("error", over);
    counter.classList.toggle("muted", !over);
    field.setAttribute("aria-invalid", over ? "true" : "false");
  }
  function updateAll(scope) {
    var counters = (scope || document).querySelectorAll("[data-count-for]");
    for (var index = 0; index < counters.length; index += 1) { update(counters[index]); }
  }
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!field || !field.id || !field.hasAttribute || !field.hasAttribute("data-max-chars")) { return; }
    var counter = document.querySelector('[data-count-for="' + field.id + '"]');
    if (counter) { update(counter); }
  });
  document.addEventListener("htmx:afterSettle", function () { updateAll(document); });
  document.addEventListener("DOMContentLoaded", function () { updateAll(document); });
})();

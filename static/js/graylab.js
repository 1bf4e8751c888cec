// Site-wide behaviour. No inline script anywhere: the Content-Security-Policy forbids it.
(function () {
  "use strict";
  // Keep keyboard focus after an htmx swap: focus the first element marked data-autofocus.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.target;
    var focus = (target || document).querySelector("[data-autofocus]");
    if (focus) { focus.focus({ preventScroll: false }); }
  });
})();

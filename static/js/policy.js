// Policy editor behaviour. No inline script: the Content-Security-Policy forbids it.
(function () {
  "use strict";
  // Validation errors come back as 422 with the form and its messages: show them in place.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail && event.detail.xhr;
    if (xhr && xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();

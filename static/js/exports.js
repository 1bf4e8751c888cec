// Export form: ask for a first preview once the page is ready (no inline script: CSP).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("export-form");
    var checked = form && form.querySelector("input[name=campaigns]:checked");
    if (checked && window.htmx) {
      window.htmx.trigger(form, "change");
    }
  });
})();

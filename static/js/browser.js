// Data browser: select a page's rows at once, and keep "select all N matching" honest
// (it selects every row shown as well, and unticking a row unticks it).
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLInputElement)) return;
    var form = target.closest("#bulk-form");
    if (!form) return;
    var rows = form.querySelectorAll("input.row-select");
    var all = form.querySelector("#all-matching");
    if (target.id === "select-page" || target.id === "all-matching") {
      rows.forEach(function (box) { box.checked = target.checked; });
      var page = form.querySelector("#select-page");
      if (page) page.checked = target.checked;
      if (target.id === "select-page" && !target.checked && all) all.checked = false;
    } else if (target.classList.contains("row-select") && !target.checked && all) {
      all.checked = false;
    }
  });
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target instanceof Element && target.matches("[data-dismiss=bulk-panel]")) {
      event.preventDefault();
      var panel = document.getElementById("bulk-panel");
      if (panel) panel.innerHTML = "";
    }
  });
})();

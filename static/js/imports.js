// The import page: a chosen XSTest mapping file is read into the mapping editor, so the
// table of where each type lands follows it before anything is imported. No inline script
// (Content-Security-Policy).
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input || input.id !== "id_mapping_file" || !input.files || !input.files[0]) { return; }
    var editor = document.getElementById("id_mapping");
    if (!editor) { return; }
    var reader = new FileReader();
    reader.onload = function () {
      editor.value = String(reader.result || "");
      document.body.dispatchEvent(new Event("mapping-loaded"));
    };
    reader.readAsText(input.files[0]);
  });
})();

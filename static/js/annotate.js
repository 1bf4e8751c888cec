// The pair page: keyboard shortcuts, time on task, autosave status, network-error retry and
// focus after htmx swaps. No inline script anywhere (Content-Security-Policy); the key map
// lives in the markup as data-key attributes so the page and the "?" list never disagree.
(function () {
  "use strict";

  var currentAssignment = null;
  var started = 0;
  var elapsedBase = 0;
  var hiddenSince = null;
  var hiddenTotal = 0;

  function root() { return document.getElementById("annotate-root"); }
  function judgmentForm() { return document.getElementById("judgment-form"); }

  // Time on task counts only while the page is visible, and survives a reload via the draft.
  function resetTimer() {
    var element = root();
    var id = element ? element.getAttribute("data-assignment") : null;
    if (id === currentAssignment) { return; }
    currentAssignment = id;
    elapsedBase = parseInt((element && element.getAttribute("data-elapsed")) || "0", 10) || 0;
    started = performance.now();
    hiddenTotal = 0;
    hiddenSince = document.hidden ? performance.now() : null;
  }
  function elapsed() {
    var now = performance.now();
    var hidden = hiddenTotal + (hiddenSince !== null ? now - hiddenSince : 0);
    return Math.max(0, Math.round(elapsedBase + now - started - hidden));
  }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { hiddenSince = performance.now(); }
    else if (hiddenSince !== null) { hiddenTotal += performance.now() - hiddenSince; hiddenSince = null; }
  });

  function setStatus(text) {
    var status = document.getElementById("save-status");
    if (status) { status.textContent = text; }
  }
  function showNetworkError(show) {
    var banner = document.getElementById("network-error");
    if (banner) { banner.hidden = !show; }
  }

  document.addEventListener("htmx:configRequest", function (event) {
    if (!currentAssignment || !event.detail || !event.detail.parameters) { return; }
    event.detail.parameters["time_on_task_ms"] = String(elapsed());
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail && event.detail.elt && event.detail.elt.id === "judgment-form") { showNetworkError(false); }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var detail = event.detail || {};
    var elt = detail.elt;
    if (!elt) { return; }
    if (elt.id === "autosave") {
      var xhr = detail.xhr;
      if (xhr && xhr.status === 204) {
        setStatus("Draft saved " + new Date().toLocaleTimeString());
      } else if (xhr && xhr.status === 409) {
        setStatus("This pair is no longer yours; reload for the next one.");
      } else {
        setStatus("Draft not saved (offline?); it will be saved with your next change.");
      }
    }
  });
  function onFailure(event) {
    var elt = event.detail && event.detail.elt;
    if (elt && (elt.id === "judgment-form" || elt.closest("#skip-panel"))) { showNetworkError(true); }
  }
  document.addEventListener("htmx:sendError", onFailure);
  document.addEventListener("htmx:responseError", onFailure);
  document.addEventListener("htmx:timeout", onFailure);

  // A native (non-htmx) submit still records the time on task.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.id === "judgment-form" && form.elements["time_on_task_ms"]) {
      form.elements["time_on_task_ms"].value = String(elapsed());
    }
  }, true);

  function focusRoot() {
    var element = root();
    var active = document.activeElement;
    if (element && (!active || active === document.body || !document.contains(active))) {
      element.focus({ preventScroll: true });
    }
  }
  // htmx puts focus back on the element with the same id after a swap. That is right when the
  // same pair comes back with messages, but on a new pair focus belongs to the page itself
  // (a focused text field would swallow the next shortcuts).
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || target.id !== "annotate-root") { return; }
    var response = String(event.detail.serverResponse || "");
    var samePair = currentAssignment && response.indexOf('data-assignment="' + currentAssignment + '"') !== -1;
    if (!samePair && document.activeElement && document.activeElement.blur) {
      document.activeElement.blur();
    }
  });
  document.addEventListener("htmx:afterSettle", function () { resetTimer(); focusRoot(); });
  document.addEventListener("DOMContentLoaded", function () { resetTimer(); focusRoot(); });

  function isTyping(element) {
    if (!element || !element.tagName) { return false; }
    var tag = element.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || element.isContentEditable) { return true; }
    if (tag !== "INPUT") { return false; }
    var type = (element.getAttribute("type") || "text").toLowerCase();
    return ["radio", "checkbox", "button", "submit", "reset", "hidden"].indexOf(type) === -1;
  }

  function keyTarget(key) {
    var form = judgmentForm();
    if (!form) { return null; }
    var candidates = form.querySelectorAll("[data-key]");
    for (var index = 0; index < candidates.length; index += 1) {
      if (candidates[index].getAttribute("data-key") === key) { return candidates[index]; }
    }
    return null;
  }

  function choose(input) {
    if (input.type === "checkbox") { input.checked = !input.checked; }
    else { input.checked = true; }
    // Bubbling change: the autosave listens on the form.
    input.dispatchEvent(new Event("change", { bubbles: true }));
    var label = input.closest("label");
    if (label) {
      label.classList.add("just-chosen");
      window.setTimeout(function () { label.classList.remove("just-chosen"); }, 250);
    }
  }

  function openHelp() {
    var dialog = document.getElementById("shortcut-help");
    if (dialog && !dialog.open && dialog.showModal) { dialog.showModal(); }
  }
  function togglePanel(id, focusSelector) {
    var panel = document.getElementById(id);
    if (!panel) { return; }
    panel.open = !panel.open;
    if (panel.open) {
      var focus = focusSelector ? panel.querySelector(focusSelector) : panel.querySelector("summary");
      if (focus) { focus.focus(); }
      panel.scrollIntoView({ block: "nearest" });
    } else {
      var element = root();
      if (element) { element.focus({ preventScroll: true }); }
    }
  }
  function submitJudgment(form) {
    var target = form || judgmentForm();
    if (target && target.requestSubmit) { target.requestSubmit(); }
  }

  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest && event.target.closest("#help-button");
    if (button) { openHelp(); }
  });

  document.addEventListener("keydown", function (event) {
    if (!root() || event.defaultPrevented || event.isComposing) { return; }
    var target = event.target;
    var help = document.getElementById("shortcut-help");
    if (help && help.open) { return; } // the modal dialog handles its own keys (Esc closes)
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submitJudgment(target && target.form ? target.form : null);
      return;
    }
    if (event.key === "Escape") {
      if (isTyping(target)) { target.blur(); focusRoot(); event.preventDefault(); }
      else {
        ["skip-panel", "guidance-panel"].forEach(function (id) {
          var panel = document.getElementById(id);
          if (panel && panel.open) { panel.open = false; }
        });
        focusRoot();
      }
      return;
    }
    if (event.key === "Enter" && !event.shiftKey && target && target.tagName === "SELECT" && target.form) {
      // A select does not submit its form on Enter by itself; the skip panel opens on its
      // reason select, so Enter there skips.
      event.preventDefault();
      submitJudgment(target.form);
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(target)) { return; }
    if (event.key === "?") { event.preventDefault(); openHelp(); return; }
    if (event.key === "Enter") {
      var tag = target && target.tagName;
      if (tag === "BUTTON" || tag === "A" || tag === "SUMMARY") { return; } // their own action
      var inForm = target && target.form;
      if (inForm && inForm.id !== "judgment-form") { return; }
      event.preventDefault();
      submitJudgment(null);
      return;
    }
    if (event.shiftKey && event.key === "S") { event.preventDefault(); togglePanel("skip-panel", "select"); return; }
    if (event.shiftKey && event.key === "G") { event.preventDefault(); togglePanel("guidance-panel", null); return; }
    if (event.shiftKey && event.key === "U") {
      // Undo the last submit: its edit page, shown only right after a submit.
      var undo = document.getElementById("undo-last");
      if (undo) { event.preventDefault(); undo.click(); }
      return;
    }
    var input = keyTarget(event.key);
    if (!input) { return; }
    event.preventDefault();
    if (input.tagName === "TEXTAREA" || (input.type !== "radio" && input.type !== "checkbox")) {
      input.focus();
      return;
    }
    choose(input);
  });
})();

// Keyboard shortcuts for Streamlit buttons: a key press clicks the button whose widget key the
// page mapped to it. Shipped in the repo (no network at run time); installed once per browser
// tab, while the map itself is replaced on every rerun, so it always names today's buttons.
(function () {
  window.__fasKeymap = __KEYMAP__;  // filled in by ui/keyboard.py
  if (window.__fasKeysInstalled) { return; }
  window.__fasKeysInstalled = true;
  function keyName(event) {
    if (event.key === "Enter") { return event.ctrlKey || event.metaKey ? "Ctrl+Enter" : "Enter"; }
    return event.key.length === 1 ? event.key.toLowerCase() : event.key;
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var tag = target && target.tagName ? target.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "textarea" || tag === "select" || (target && target.isContentEditable)) {
      return;  // typing a name or a search is not a shortcut
    }
    if (event.altKey || event.repeat) { return; }
    var widget = (window.__fasKeymap || {})[keyName(event)];
    if (!widget) { return; }
    var button = document.querySelector(".st-key-" + widget + " button");
    if (!button || button.disabled) { return; }
    event.preventDefault();
    button.click();
  }, true);
})();

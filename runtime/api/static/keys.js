// Keyboard operation: single keys move between views when no text field has the focus.
// "?" lists them. Every control is also a real button or link, reachable with Tab.
export const KEYS = {
  l: ["#/alarms", "Alarms"],
  s: ["#/state", "Feeder state"],
  g: ["#/diagram", "Single-line diagram"],
  t: ["#/trends", "Trends"],
  a: ["#/approvals", "Approvals"],
  d: ["#/dispatches", "Dispatches"],
  u: ["#/audit", "Audit"],
  h: ["#/shift", "Shift log and handover"],
};

function typing(el) {
  return el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
}

export function installKeys() {
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(document.activeElement)) return;
    if (document.getElementById("topbar")?.hidden) return; // not logged in
    if (e.key === "?") {
      const help = document.getElementById("keys-help");
      if (help) help.hidden = !help.hidden;
      return;
    }
    const target = KEYS[e.key];
    if (!target) return;
    e.preventDefault();
    location.hash = target[0];
    document.getElementById("main")?.focus();
  });
}

// Dark theme for control rooms: follows the system setting until the operator picks one,
// then remembers the choice in this browser.
function stored() {
  return localStorage.getItem("gridaios.theme");
}

export function applyTheme() {
  const dark = stored() ? stored() === "dark" : window.matchMedia?.("(prefers-color-scheme: dark)").matches;
  document.documentElement.classList.toggle("dark", Boolean(dark));
  return Boolean(dark);
}

export function themeControl(h) {
  const dark = applyTheme();
  const b = h("button", { type: "button", id: "theme-toggle", class: "link", "aria-pressed": String(dark) },
    dark ? "Light theme" : "Dark theme");
  b.addEventListener("click", () => {
    const next = document.documentElement.classList.contains("dark") ? "light" : "dark";
    localStorage.setItem("gridaios.theme", next);
    const now = applyTheme();
    b.textContent = now ? "Light theme" : "Dark theme";
    b.setAttribute("aria-pressed", String(now));
  });
  return b;
}

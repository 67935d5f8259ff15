import { ApiError, get, post } from "../api.js";
import { h } from "../dom.js";

export function renderLogin(main, { onLoggedIn }) {
  const error = h("p", { class: "error", role: "alert", id: "login-error", hidden: true });
  const user = h("input", { id: "username", name: "username", autocomplete: "username", required: true });
  const pass = h("input", {
    id: "password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const button = h("button", { type: "submit", id: "login-button" }, "Log in");
  const form = h(
    "form",
    { id: "login-form", class: "card login" },
    h("h1", {}, "gridaios operator console"),
    h("label", { for: "username" }, "User name"),
    user,
    h("label", { for: "password" }, "Password"),
    pass,
    error,
    button,
    h("p", { class: "muted small" }, "Accounts are made with `gridaios users add NAME --role ROLE`."),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    button.disabled = true;
    try {
      await post("/api/login", { username: user.value, password: pass.value }, { quiet401: true });
      const me = await get("/api/me");
      await onLoggedIn(me);
    } catch (err) {
      let text = err instanceof ApiError ? err.detail : String(err);
      if (err instanceof ApiError && err.status === 401) {
        text = `Login refused: ${err.detail}`;
      } else if (err instanceof ApiError && err.status === 423) {
        text = `Account locked: ${err.detail}`;
      }
      error.textContent = text;
      error.hidden = false;
      pass.value = "";
      pass.focus();
    } finally {
      button.disabled = false;
    }
  });
  main.append(form);
  user.focus();
}

// Shadow-mode reports (what the AI would have done, against what operators did).
import { ApiError, get, roleAtLeast } from "../api.js";
import { errorBox, h, utc } from "../dom.js";

export async function renderShadow(main, ctx) {
  main.append(h("h1", {}, "Shadow reports"));
  if (!roleAtLeast(ctx.session.role, "engineer")) {
    main.append(h("p", { class: "notice" },
      `Shadow reports are for engineers; you are logged in as ${ctx.session.role}.`));
    return;
  }
  let reports;
  try {
    reports = await get("/api/shadow/reports");
  } catch (err) {
    const text = err instanceof ApiError && err.status === 403
      ? `Refused: ${err.detail}` : `Reports unavailable: ${err.detail || err}`;
    main.append(errorBox(text));
    return;
  }
  if (reports.length === 0) {
    main.append(h("p", { class: "empty" }, "No shadow report yet."));
    return;
  }
  main.append(h("table", { class: "grid", id: "shadow-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Report"), h("th", {}, "Created (UTC)"))),
    h("tbody", {}, reports.map((r) => h("tr", {},
      h("td", {}, h("a", { href: r.url, target: "_blank", rel: "noopener" }, r.name)),
      h("td", {}, utc(r.created)))))));
}

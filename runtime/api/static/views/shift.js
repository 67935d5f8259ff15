// Shift handover: the operator log (free text, author and time, kept in the event log) and a
// summary for the next shift: open alarms, pending approvals, dispatches and notes since.
import { ApiError, get, post, roleAtLeast } from "../api.js";
import { errorBox, h, kw, utc } from "../dom.js";

export async function renderShift(main, ctx) {
  const error = h("div");
  const summary = h("div", { id: "handover" });
  const notes = h("ul", { id: "log-entries", class: "log" });
  main.append(h("h1", {}, "Shift log and handover"), error);
  if (roleAtLeast(ctx.session.role, "operator")) {
    const text = h("textarea", { id: "log-text", rows: 2, "aria-label": "new log entry",
      placeholder: "What the next shift should know (recorded with your name and the time)" });
    const add = h("button", { type: "button", id: "log-add", class: "primary" }, "Add to the log");
    add.addEventListener("click", async () => {
      if (!text.value.trim()) {
        error.replaceChildren(errorBox("Write something first: the entry is empty."));
        return;
      }
      try {
        await post("/api/log", { text: text.value });
        text.value = "";
        error.replaceChildren();
        await load();
      } catch (err) {
        error.replaceChildren(errorBox(err instanceof ApiError ? err.detail : String(err)));
      }
    });
    main.append(h("section", { class: "card" }, h("h2", {}, "New entry"), text, h("div", { class: "buttons" }, add)));
  }
  main.append(h("div", { class: "columns" },
    h("section", { class: "card" }, h("h2", {}, "Handover summary (last 8 h)"), summary),
    h("section", { class: "card" }, h("h2", {}, "Operator log"), notes)));

  async function load() {
    let s;
    let entries;
    try {
      [s, entries] = await Promise.all([get("/api/handover"), get("/api/log")]);
    } catch (err) {
      if (ctx.current()) error.replaceChildren(errorBox(`Shift log unavailable: ${err.detail || err}`));
      return;
    }
    if (!ctx.current()) return;
    notes.replaceChildren(...(entries.length
      ? entries.map((e) => h("li", {}, h("strong", {}, `${utc(e.ts)} ${e.author}: `), e.text))
      : [h("li", { class: "empty" }, "No entry yet.")]));
    summary.replaceChildren(
      h("p", {}, `From ${utc(s.since)} to ${utc(s.now)}.`),
      h("h3", {}, `Open alarms (${s.alarms.length})`),
      s.alarms.length
        ? h("ul", { id: "handover-alarms" }, s.alarms.map((a) => h("li", {}, `${a.priority.toUpperCase()} ${a.message} (${a.state})`)))
        : h("p", { class: "muted" }, "None."),
      h("h3", {}, `Pending approvals (${s.pending_approvals.length})`),
      s.pending_approvals.length
        ? h("ul", { id: "handover-pending" }, s.pending_approvals.map((p) => h("li", {},
            h("a", { href: `#/approvals/${encodeURIComponent(p.dispatch_id)}` }, p.dispatch_id),
            ` ${p.asset}: ${p.value_kw > 0 ? "discharge" : "charge"} ${kw(Math.abs(p.value_kw))}, expires ${utc(p.expires_at)}${p.escalated ? " (ESCALATED)" : ""}`)))
        : h("p", { class: "muted" }, "None."),
      h("h3", {}, `Dispatches finished (${s.dispatches.length})`),
      s.dispatches.length
        ? h("ul", {}, s.dispatches.map((d) => h("li", {}, `${utc(d.ts)} `,
            h("a", { href: `#/dispatches/${encodeURIComponent(d.dispatch_id)}` }, d.dispatch_id), ` ${d.kind.replace("dispatch.", "")}`)))
        : h("p", { class: "muted" }, "None."),
      h("h3", {}, `Log entries (${s.notes.length})`));
  }
  await load();
  ctx.every(10000, load);
}

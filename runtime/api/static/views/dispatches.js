// Dispatch history (every decision and how far it got) and one dispatch's decision record.
import { get, query } from "../api.js";
import { errorBox, h, kw, utc } from "../dom.js";

const EVERY_MS = 5000;
export const STATES = [
  "proposed", "gated", "simulated", "awaiting_approval", "approved", "sent", "acked",
  "verified", "failed", "retried", "rejected", "blocked", "superseded", "refused",
  "expired", "dead_lettered", "reverted",
];
const GOOD = new Set(["verified", "acked", "sent", "approved"]);
const BAD = new Set(["failed", "dead_lettered", "rejected", "blocked", "refused", "expired"]);

export function stateBadge(state) {
  const cls = GOOD.has(state) ? "good" : BAD.has(state) ? "bad" : "";
  return h("span", { class: `badge state ${cls}` }, state ?? "unknown");
}

export async function renderDispatches(main, ctx) {
  const filter = h("select", { id: "dispatch-state" },
    h("option", { value: "" }, "all states"), STATES.map((s) => h("option", { value: s }, s)));
  const error = h("div");
  const body = h("tbody", { id: "dispatch-rows" });
  main.append(
    h("h1", {}, "Dispatch history"),
    h("p", { class: "toolbar" }, h("label", { for: "dispatch-state" }, "State "), filter,
      h("span", { class: "muted small" }, ` newest first, refreshed every ${EVERY_MS / 1000} s`)),
    error,
    h("table", { class: "grid", id: "dispatch-table" },
      h("thead", {}, h("tr", {}, ["Dispatch", "Asset", "Setpoint (kW)", "State", "Last change (UTC)", "Approved by", "Sends"].map((t) => h("th", {}, t)))),
      body),
  );

  async function load() {
    let rows;
    try {
      rows = await get(query("/api/dispatches", { limit: 50, state: filter.value }));
    } catch (err) {
      if (ctx.current()) error.replaceChildren(errorBox(`Dispatch history unavailable: ${err.detail || err}`));
      return;
    }
    if (!ctx.current()) return;
    error.replaceChildren();
    if (rows.length === 0) {
      body.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No dispatch in this state yet.")));
      return;
    }
    body.replaceChildren(...rows.map((d) =>
      h("tr", { dataset: { dispatchId: d.dispatch_id, state: d.state } },
        h("td", {}, h("a", { href: `#/dispatches/${encodeURIComponent(d.dispatch_id)}` }, d.dispatch_id)),
        h("td", {}, d.asset ?? "–"),
        h("td", { class: "num" }, kw(d.value_kw)),
        h("td", {}, stateBadge(d.state)),
        h("td", { class: "nowrap" }, utc(d.updated ?? d.ts)),
        h("td", { class: "small" }, (d.approvers || []).join(", ") || (d.requirement === "auto" ? "automatic" : "–")),
        h("td", { class: "num" }, d.attempts ?? "–"),
      )));
  }
  filter.addEventListener("change", load);
  await load();
  ctx.every(EVERY_MS, load);
}

function timeline(events) {
  return h("table", { class: "grid", id: "dispatch-events" },
    h("thead", {}, h("tr", {}, ["#", "Time (UTC)", "Event", "Detail"].map((t) => h("th", {}, t)))),
    h("tbody", {}, events.map((e) => h("tr", {},
      h("td", { class: "num" }, e.seq ?? ""),
      h("td", { class: "nowrap" }, utc(e.ts)),
      h("td", {}, h("code", {}, e.kind)),
      h("td", {},
        Array.isArray(e.lines) ? h("pre", {}, e.lines.join("\n")) : null,
        h("details", {}, h("summary", { class: "small" }, "payload"),
          h("pre", { class: "payload" }, JSON.stringify(e.payload ?? {}, null, 1))))))));
}

export async function renderDispatch(main, ctx, id) {
  main.append(h("p", {}, h("a", { href: "#/dispatches" }, "← dispatch history")));
  const holder = h("div", { id: "dispatch-detail" });
  main.append(holder);

  async function load() {
    const rec = await get(`/api/dispatches/${encodeURIComponent(id)}`);
    if (!ctx.current()) return;
    const parts = [h("h1", {}, `Dispatch ${id} `, stateBadge(rec.state))];
    const text = rec.text ?? rec.explain ?? (Array.isArray(rec.lines) ? rec.lines.join("\n") : null);
    if (rec.narrative) parts.push(h("p", { class: "narrative", id: "explain-narrative" }, rec.narrative));
    if (text) parts.push(h("pre", { class: "explain", id: "explain-text" }, text));
    if (Array.isArray(rec.events)) {
      parts.push(h("details", { id: "dispatch-events-box" },
        h("summary", {}, `All ${rec.events.length} events of this dispatch, with their payloads`), timeline(rec.events)));
    }
    if (!text && !Array.isArray(rec.events)) parts.push(h("pre", { class: "explain" }, JSON.stringify(rec, null, 2)));
    holder.replaceChildren(...parts);
  }
  await load();
  // Until it settles, follow the dispatch (sent -> acked -> verified).
  ctx.every(EVERY_MS, () => load().catch(() => {}));
}

// Audit search over the event log: by kind, dispatch id and free text, paged by sequence.
import { get, query, roleAtLeast } from "../api.js";
import { errorBox, h, utc } from "../dom.js";

const PAGE = 100;
const KINDS = [
  "dispatch.proposed", "dispatch.gated", "dispatch.simulated", "dispatch.grid_validated",
  "dispatch.blocked", "dispatch.rejected", "dispatch.superseded", "approval.requested",
  "approval.auto", "approval.granted", "approval.rejected", "approval.expired",
  "approval.escalated", "dispatch.approved", "dispatch.sent", "dispatch.acked",
  "dispatch.verified", "dispatch.failed", "dispatch.retried", "dispatch.dead_lettered",
  "dispatch.reverted", "auth.login", "auth.failed", "auth.locked", "auth.token_created",
  "auth.user_added", "runtime.started",
];

// "user olga; reason evening peak" rather than raw JSON; nested values stay compact.
export function readable(payload) {
  return Object.entries(payload ?? {}).map(([k, v]) => {
    const text = v !== null && typeof v === "object" ? JSON.stringify(v) : String(v);
    return `${k.replaceAll("_", " ")}: ${text.length > 60 ? `${text.slice(0, 57)}…` : text}`;
  }).join("; ");
}

export async function renderAudit(main, ctx) {
  const kind = h("input", { id: "audit-kind", list: "audit-kinds", placeholder: "any kind", size: 22 });
  const did = h("input", { id: "audit-dispatch", placeholder: "any dispatch", size: 22 });
  const text = h("input", { id: "audit-q", placeholder: "words in the payload", size: 22 });
  const submit = h("button", { type: "submit", id: "audit-search" }, "Search");
  const more = h("button", { type: "button", id: "audit-more", hidden: true }, "Next events");
  const result = h("div", { id: "audit-results" });
  const verify = h("div", { id: "audit-verify" });
  const form = h("form", { class: "toolbar", id: "audit-form" },
    h("label", { for: "audit-kind" }, "Kind (or part: approval, granted) "), kind,
    h("datalist", { id: "audit-kinds" }, KINDS.map((k) => h("option", { value: k }))),
    h("label", { for: "audit-dispatch" }, " Dispatch id "), did,
    h("label", { for: "audit-q" }, " Text "), text, " ", submit);
  main.append(h("h1", {}, "Audit log"), form, verify, result, more);

  let rows = [];
  let lastSeq = null;

  function table() {
    if (rows.length === 0) return h("p", { class: "empty" }, "No event matches.");
    return h("table", { class: "grid", id: "audit-table" },
      h("thead", {}, h("tr", {}, ["#", "Time (UTC)", "Kind", "Dispatch", "Payload", "Hash"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows.map((e) => {
        const payload = readable(e.payload);
        return h("tr", { dataset: { kind: e.kind } },
          h("td", { class: "num" }, e.seq),
          h("td", { class: "nowrap" }, utc(e.ts)),
          h("td", { class: "nowrap" }, h("code", {}, e.kind)),
          h("td", {}, e.dispatch_id
            ? h("a", { href: `#/dispatches/${encodeURIComponent(e.dispatch_id)}` }, e.dispatch_id) : "–"),
          h("td", { class: "wide" }, payload.length <= 120 ? h("code", { class: "payload" }, payload)
            : h("details", {}, h("summary", {}, h("code", { class: "payload" }, `${payload.slice(0, 110)}…`)),
                h("pre", { class: "payload" }, JSON.stringify(e.payload, null, 1)))),
          h("td", { class: "small" }, h("code", { title: e.hash ?? "" }, e.hash ? `${e.hash.slice(0, 8)}…` : "–")));
      })));
  }

  async function search(append) {
    const params = { kind: kind.value.trim(), dispatch_id: did.value.trim(), q: text.value.trim(), limit: PAGE };
    if (append && lastSeq !== null) params.after_seq = lastSeq;
    try {
      const page = await get(query("/api/events", params));
      if (!ctx.current()) return;
      rows = append ? rows.concat(page) : page;
      lastSeq = rows.length ? Math.max(...rows.map((e) => e.seq)) : null;
      more.hidden = page.length < PAGE;
      result.replaceChildren(h("p", { class: "muted small" }, `${rows.length} event(s)`), table());
    } catch (err) {
      result.replaceChildren(errorBox(`Search failed: ${err.detail || err}`));
    }
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    search(false);
  });
  more.addEventListener("click", () => search(true));

  if (roleAtLeast(ctx.session.role, "engineer")) {
    const check = h("button", { type: "button", id: "audit-verify-button" }, "Verify the hash chain");
    check.addEventListener("click", async () => {
      try {
        const r = await get("/api/audit/verify");
        verify.replaceChildren(h("p", { class: r.ok ? "ok" : "error", role: "status" },
          r.ok ? `Hash chain intact: ${r.events} events verified.`
            : `Hash chain BROKEN at event #${r.first_bad_seq} (of ${r.events}): the log was altered.`), check);
      } catch (err) {
        verify.replaceChildren(errorBox(`Verification failed: ${err.detail || err}`), check);
      }
    });
    verify.append(check);
  }
  await search(false);
}

// Pending approvals, oldest first, with age, time left before expiry and escalation.
import { get } from "../api.js";
import { duration, errorBox, h, kw, secondsBetween, utc } from "../dom.js";
import { hhmm } from "../clock.js";

const EVERY_MS = 3000;

const REQUIREMENT_TEXT = {
  one_operator: "1 operator",
  two_operators: "2 operators (two-person rule)",
  auto: "automatic",
};

export function requirementText(r) {
  return REQUIREMENT_TEXT[r] || r || "–";
}

// The site clock: the runtime's injected clock (accelerated in the demo), from /api/state.
export async function siteNow() {
  try {
    const r = await get("/api/state");
    if (r && r.now) return r.now;
  } catch {
    // fall back to this computer's clock
  }
  return new Date().toISOString();
}

export async function renderApprovals(main, ctx) {
  const stamp = h("p", { class: "muted" });
  const error = h("div");
  const list = h("div", { id: "approvals-list" });
  main.append(h("h1", {}, "Pending approvals"), stamp, error, list);

  async function load() {
    let items;
    let now;
    try {
      [items, now] = await Promise.all([get("/api/approvals"), siteNow()]);
    } catch (err) {
      if (ctx.current()) error.replaceChildren(errorBox(`Approvals unavailable: ${err.detail || err}`));
      return;
    }
    if (!ctx.current()) return;
    error.replaceChildren();
    stamp.textContent = `Site clock ${utc(now)}; refreshed every ${EVERY_MS / 1000} s.`;
    if (items.length === 0) {
      list.replaceChildren(h("p", { class: "empty" }, "Nothing is waiting for a decision."));
      return;
    }
    const rows = items.map((a) => {
      const age = secondsBetween(a.requested_at, now);
      const left = secondsBetween(now, a.expires_at);
      const expired = left !== null && left <= 0;
      const urgent = left !== null && left < 120;
      const needed = a.requirement === "two_operators" ? 2 : 1;
      return h(
        "tr",
        { class: a.escalated ? "escalated" : "", dataset: { dispatchId: a.dispatch_id } },
        h("td", {}, h("a", { href: `#/approvals/${encodeURIComponent(a.dispatch_id)}`, class: "open-approval" }, a.dispatch_id)),
        h("td", {}, a.asset),
        h("td", { class: "num" }, a.value_kw > 0 ? `discharge ${kw(a.value_kw)}` : a.value_kw < 0 ? `charge ${kw(-a.value_kw)}` : kw(a.value_kw)),
        h("td", {}, requirementText(a.requirement),
          h("div", { class: "muted small" }, `${(a.approvers || []).length} of ${needed} approved`,
            (a.approvers || []).length ? ` (${a.approvers.join(", ")})` : "")),
        h("td", {}, duration(age)),
        h("td", { class: expired || urgent ? "flag" : "" }, expired ? "EXPIRED" : `${duration(left)} (at ${hhmm(a.expires_at)})`),
        h("td", {}, a.escalated ? h("span", { class: "badge bad" }, "ESCALATED") : "–"),
        h("td", { class: "rationale" }, a.rationale || ""),
      );
    });
    list.replaceChildren(
      h(
        "table",
        { class: "grid" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", {}, "Dispatch"),
            h("th", {}, "Asset"),
            h("th", { class: "num" }, "Setpoint"),
            h("th", {}, "Needs"),
            h("th", {}, "Waiting"),
            h("th", {}, "Expires in"),
            h("th", {}, "Escalation"),
            h("th", {}, "Why"),
          ),
        ),
        h("tbody", {}, rows),
      ),
      h("p", { class: "muted small" },
        "Times are on the site clock. An expired request is not dispatched: the setpoint stays as it is."),
    );
  }

  await load();
  ctx.every(EVERY_MS, load);
}

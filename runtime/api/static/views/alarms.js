// Alarms (ISA-18.2 style): most urgent first, each with priority, time raised, state
// (active/cleared, unacknowledged/acknowledged); operators acknowledge and shelve with a reason.
import { ApiError, get, post, roleAtLeast } from "../api.js";
import { errorBox, h, utc } from "../dom.js";

const EVERY_MS = 5000;

export async function renderAlarms(main, ctx) {
  const error = h("div");
  const list = h("div", { id: "alarms-list" });
  main.append(h("h1", {}, "Alarms"), error, list,
    h("p", { class: "muted small" },
      "Sources: stale or bad readings, clock offset, services and connectors not ready, gate rejections in a row, " +
      "expired approvals, controller lost, event-log disk filling. Acknowledging records who saw it; " +
      "shelving hides it for a while with a reason. Both are events in the audit log."));
  const operator = roleAtLeast(ctx.session.role, "operator");

  async function act(key, action, body) {
    try {
      await post(`/api/alarms/${encodeURIComponent(key)}/${action}`, body);
      error.replaceChildren();
      await load();
    } catch (err) {
      error.replaceChildren(errorBox(err instanceof ApiError ? err.detail : String(err), { id: "alarm-error" }));
    }
  }

  function controls(a) {
    if (!operator) return "–";
    const reason = h("input", { type: "text", class: "alarm-reason", "aria-label": `reason for ${a.key}`, placeholder: "reason" });
    const minutes = h("select", { class: "alarm-minutes", "aria-label": `shelve ${a.key} for` },
      [15, 60, 240, 480].map((m) => h("option", { value: m }, m < 60 ? `${m} min` : `${m / 60} h`)));
    return h("div", { class: "toolbar" },
      a.acked ? null : h("button", { type: "button", class: "ack-button", onclick: () => act(a.key, "ack", { reason: reason.value }) }, "Acknowledge"),
      reason, minutes,
      h("button", { type: "button", class: "shelve-button", onclick: () => {
        if (!reason.value.trim()) {
          error.replaceChildren(errorBox("Shelving needs a reason: type it in the box next to the button.", { id: "alarm-error" }));
          reason.focus();
          return;
        }
        act(a.key, "shelve", { reason: reason.value, minutes: Number(minutes.value) });
      } }, "Shelve"));
  }

  async function load() {
    let items;
    try {
      items = await get("/api/alarms");
    } catch (err) {
      if (ctx.current()) error.replaceChildren(errorBox(`Alarms unavailable: ${err.detail || err}`));
      return;
    }
    if (!ctx.current()) return;
    if (items.length === 0) {
      list.replaceChildren(h("p", { class: "empty", id: "no-alarms" }, "No alarm: nothing active or unacknowledged."));
      return;
    }
    // keep what the operator is typing: redraw only when the list itself changed
    const sig = JSON.stringify(items.map((a) => [a.key, a.state, a.raised_at, a.shelved]));
    if (list.dataset.sig === sig) return;
    list.dataset.sig = sig;
    list.replaceChildren(h("table", { class: "grid", id: "alarms-table" },
      h("thead", {}, h("tr", {}, ["Priority", "Raised (UTC)", "State", "Source", "Alarm", "Action"].map((t) => h("th", {}, t)))),
      h("tbody", {}, items.map((a) => h("tr", {
        class: `alarm ${a.priority} ${a.active ? "active" : "cleared"} ${a.acked ? "acked" : "unacked"}`,
        dataset: { key: a.key },
      },
        h("td", {}, h("span", { class: `badge prio-${a.priority}` }, a.priority.toUpperCase())),
        h("td", {}, utc(a.raised_at)),
        h("td", { class: "alarm-state" }, a.state,
          a.acked ? h("div", { class: "muted small" }, `by ${a.acked_by}${a.ack_reason ? `: ${a.ack_reason}` : ""}`) : null),
        h("td", {}, a.source),
        h("td", {}, a.message),
        h("td", {}, controls(a)))))));
  }

  await load();
  ctx.every(EVERY_MS, load);
}

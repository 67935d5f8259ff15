// Ask: an operator's words -> a read-back and the gate's preview, or an answer from the record.
// A command is proposed only after the operator confirms its read-back (POST /api/ask/propose
// with the read-back's code); nothing here sends anything to a device.
import { ApiError, post, roleAtLeast } from "../api.js";
import { clear, errorBox, h } from "../dom.js";

export async function renderAsk(main, ctx) {
  main.append(h("h1", {}, "Ask"));
  const input = h("input", {
    id: "ask-text", type: "text", size: 70, maxlength: 500, autocomplete: "off",
    placeholder: "discharge the community battery at 150 kW till 8pm / SoC of bat1?",
  });
  const out = h("div", { id: "ask-result", "aria-live": "polite" });
  const form = h("form", { id: "ask-form" }, input, " ", h("button", { type: "submit" }, "Ask"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(out);
    const text = input.value.trim();
    if (!text) return;
    let reply;
    try {
      reply = await post("/api/ask", { text });
    } catch (err) {
      out.append(errorBox(err instanceof ApiError ? err.detail : String(err)));
      return;
    }
    if (!ctx.current()) return;
    if (reply.kind !== "command") {
      out.append(h("p", { class: reply.kind === "question" ? "answer" : "notice", id: "ask-reply" },
        reply.reply));
      return;
    }
    const verdict = reply.verdict || {};
    out.append(
      h("p", { class: "readback", id: "ask-readback" }, `Read-back: ${reply.readback}`),
      h("p", { id: "ask-verdict" }, `Gate preview: ${verdict.outcome}` +
        (verdict.value !== null && verdict.value !== undefined ? ` at ${verdict.value}` : "") +
        (reply.approval ? `; approval: ${reply.approval}` : "")),
      h("ul", {}, (verdict.constraints || []).map((c) => h("li", {}, `${c.constraint}: ${c.reason}`))),
    );
    if (!roleAtLeast(ctx.session.role, "operator")) {
      out.append(h("p", { class: "notice" }, "Proposing needs the operator role."));
      return;
    }
    const confirm = h("button", { type: "button", id: "ask-confirm" },
      "Confirm this read-back and propose");
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      try {
        const done = await post("/api/ask/propose", { text, confirm: reply.confirm });
        out.append(h("p", { class: "ok", id: "ask-queued" },
          `Queued as request ${done.request_id}: the conductor proposes it through the gate and approvals.`));
      } catch (err) {
        out.append(errorBox(err instanceof ApiError ? err.detail : String(err)));
      }
    });
    out.append(confirm);
  });
  main.append(form, out);
  input.focus();
}

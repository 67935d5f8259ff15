// One approval request in full: what would be done, why, what the gate and the power flow
// said, what happens without a decision, and the approve / reject controls.
import { ApiError, get, post, roleAtLeast } from "../api.js";
import { duration, errorBox, h, kw, num, shortHash, utc } from "../dom.js";
import { requirementText, siteNow } from "./approvals.js";
import { SiteClock, hhmm } from "../clock.js";

// "discharge 146 kW" rather than a raw active_power_kw (positive: the battery discharges).
export function setpointWords(kind, value) {
  const v = Number(value);
  if (value === null || value === undefined || Number.isNaN(v)) return "–";
  if (kind && kind.endsWith("_pct")) return `curtail to ${num(v, 0)} %`;
  if (kind === "reactive_power_kvar") return `${v > 0 ? "inject" : v < 0 ? "absorb" : "hold"} ${num(Math.abs(v), 0)} kvar`;
  if (Math.abs(v) < 0.05) return "hold 0 kW (idle)";
  return `${v > 0 ? "discharge" : "charge"} ${num(Math.abs(v), 1)} kW`;
}

function stakesSection(detail) {
  const st = detail.stakes;
  if (!st) return null;
  const peaks = (st.peaks || []).map((p) => h("tr", { dataset: { source: p.source } },
    h("th", { scope: "row" }, p.source),
    h("td", { class: "num" }, kw(p.without_kw)),
    h("td", { class: "num" }, p.with_kw === null || p.with_kw === undefined ? "–" : kw(p.with_kw)),
    h("td", { class: "small" }, p.label)));
  return section("What is at stake",
    h("p", { class: "lead", id: "stakes-setpoint" }, st.setpoint),
    st.threshold_meaning ? h("p", { id: "threshold-meaning" }, `${st.threshold_meaning}.`) : null,
    peaks.length
      ? h("table", { class: "grid kpis", id: "peaks" },
          h("caption", { class: "small" }, "Which peak is which: the same evening seen three ways"),
          h("thead", {}, h("tr", {}, h("th", {}, "Source"), h("th", { class: "num" }, "No action"),
            h("th", { class: "num" }, "With the plan"), h("th", {}, "What it is"))),
          h("tbody", {}, peaks))
      : null,
    st.not_acting ? h("p", { id: "not-acting" }, h("strong", {}, "Not acting: "), `${st.not_acting}.`) : null);
}

function historySection(detail) {
  const items = detail.history || [];
  const rows = items.map((x) => h("li", {},
    `${hhmm(x.ts)}: a later cycle proposed ${setpointWords("active_power_kw", x.proposed_kw)}, ` +
    `within ±${num(x.tolerance_kw, 0)} kW of this request's ${num(x.pending_kw, 1)} kW: this request stands.`));
  return section("History across cycles",
    h("p", { class: "small muted" },
      "A request stands while later cycles propose nearly the same plan; its expiry and escalation times hold. " +
      "A plan that moves further supersedes it and this page links to the new request."),
    rows.length ? h("ul", { id: "history" }, rows) : h("p", { class: "muted small", id: "history" }, "No later cycle yet."));
}

// Grid report KPIs, with their units, plan next to no action.
const KPIS = [
  ["peak_import_kw", "Peak import", "kW", 1],
  ["energy_import_kwh", "Energy imported", "kWh", 1],
  ["losses_kwh", "Losses", "kWh", 2],
  ["vmin_pu", "Lowest voltage", "pu", 4],
  ["vmax_pu", "Highest voltage", "pu", 4],
  ["max_loading_pct", "Most loaded branch", "%", 1],
  ["energy_shifted_kwh", "Energy shifted", "kWh", 1],
  ["pv_curtailed_kwh", "PV curtailed", "kWh", 1],
];

function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

function dl(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(([, v]) => v !== undefined).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "–")]),
  );
}

function commandsOf(detail) {
  const plan = detail.plan ?? detail.commands;
  if (Array.isArray(plan)) return plan;
  if (plan && Array.isArray(plan.commands)) return plan.commands;
  return [];
}

function planTable(commands) {
  if (commands.length === 0) return h("p", { class: "muted" }, "No commands recorded for this plan.");
  return h(
    "table",
    { class: "grid", id: "plan-table" },
    h("thead", {}, h("tr", {}, ["Asset", "Command", "Setpoint", "From (UTC)", "To (UTC)", "Origin"].map((t) => h("th", {}, t)))),
    h(
      "tbody",
      {},
      commands.map((c) =>
        h(
          "tr",
          {},
          h("td", {}, c.asset),
          h("td", {}, c.kind ?? "–"),
          h("td", { class: "num" }, setpointWords(c.kind, c.value ?? c.value_kw)),
          h("td", {}, utc(c.start)),
          h("td", {}, utc(c.end)),
          h("td", {}, c.origin ?? "–"),
        ),
      ),
    ),
  );
}

function verdictList(verdicts) {
  if (!verdicts || verdicts.length === 0) return h("p", { class: "muted" }, "No gate verdict recorded.");
  return h(
    "ul",
    { class: "verdicts", id: "verdicts" },
    verdicts.map((v) => {
      const hits = v.constraints ?? v.hits ?? [];
      const outcome = v.outcome ?? v.kind ?? "?";
      return h(
        "li",
        { class: `verdict ${outcome}` },
        h("strong", {}, `${v.recheck ? "Gate re-check" : "Safety gate"}: ${outcome}`),
        (v.value_kw ?? v.value) !== undefined && (v.value_kw ?? v.value) !== null
          ? ` — allows ${kw(v.value_kw ?? v.value)}` : "",
        v.ts ? h("span", { class: "muted small" }, ` at ${utc(v.ts)}`) : "",
        v.asset ? ` (${v.asset})` : "",
        hits.length === 0
          ? h("div", { class: "muted small" }, "No constraint limited this command.")
          : h(
              "ul",
              { class: "reasons" },
              hits.map((hit) =>
                h(
                  "li",
                  { class: "reason" },
                  h("code", {}, hit.constraint),
                  `: ${hit.reason}`,
                  hit.limit !== undefined && hit.limit !== null
                    ? h("span", { class: "muted" }, ` (limit ${num(hit.limit, 3)}, observed ${num(hit.observed, 3)})`)
                    : "",
                ),
              ),
            ),
      );
    }),
  );
}

function violationsList(list, empty) {
  if (!list || list.length === 0) return h("p", { class: "muted small" }, empty);
  return h("ul", { class: "reasons" }, list.map((v) => h("li", { class: "reason" }, v.message ?? JSON.stringify(v))));
}

function gridReport(report) {
  if (!report || typeof report !== "object") return null;
  const plan = report.kpis?.plan ?? {};
  const base = report.kpis?.baseline ?? {};
  const rows = KPIS.filter(([k]) => k in plan || k in base).map(([k, label, unit, digits]) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, `${label} (${unit})`),
      h("td", { class: "num" }, num(plan[k], digits)),
      h("td", { class: "num" }, num(base[k], digits)),
    ),
  );
  return h(
    "div",
    { id: "grid-report" },
    h("p", {}, `Power flow on ${report.network ?? "the network twin"}: `,
      h("strong", {}, report.converged === false ? "did not converge" : report.ok ? "no violation" : "violations"),
      ` — ${report.summary ?? ""}`),
    rows.length
      ? h("table", { class: "grid kpis" },
          h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", { class: "num" }, "With the plan"), h("th", { class: "num" }, "No action"))),
          h("tbody", {}, rows))
      : null,
    h("h3", {}, "Made worse by the plan"),
    violationsList(report.worsened, "Nothing is made worse than doing nothing."),
    report.baseline_violations?.length
      ? [h("h3", {}, "Already violated without the plan"), violationsList(report.baseline_violations, "")]
      : null,
  );
}

function simulation(detail) {
  const sim = detail.simulation;
  const parts = [];
  if (typeof sim === "string" || (!sim && detail.simulation_summary)) {
    parts.push(h("p", { id: "simulation-summary" }, sim || detail.simulation_summary));
  }
  else if (sim && typeof sim === "object") {
    parts.push(h("p", { id: "simulation-summary" },
      h("strong", {}, sim.ok === false ? "Violations: " : "No violation: "), sim.summary ?? ""));
    if (sim.peak_kw_plan !== undefined) {
      parts.push(dl([
        ["Peak with the plan", kw(sim.peak_kw_plan)],
        ["Peak without", kw(sim.peak_kw_baseline)],
        ["Energy shifted", sim.energy_shifted_kwh !== undefined ? `${num(sim.energy_shifted_kwh)} kWh` : undefined],
        ["Simulated", sim.steps !== undefined ? `${sim.steps} steps of ${num(sim.step_s, 0)} s` : undefined],
      ]));
      parts.push(violationsList(sim.violations, "The battery and feeder model found no limit breach."));
    }
    if (detail.simulation_summary && detail.simulation_summary !== sim.summary && !detail.grid_report) {
      parts.push(h("p", { class: "small" }, `Power flow: ${detail.simulation_summary}`));
    }
  } else if (!detail.simulation_summary) parts.push(h("p", { class: "muted" }, "No simulation summary recorded."));
  const grid = gridReport(detail.grid_report);
  if (grid) parts.push(grid);
  if (detail.plot_url) {
    parts.push(
      h("figure", { class: "plot" },
        h("img", {
          id: "plan-plot",
          src: detail.plot_url,
          alt: "Simulated feeder import, voltage, loading and state of charge: plan against no action",
          onerror: (ev) => ev.target.replaceWith(errorBox("The plot could not be loaded (it may have been removed from the reports directory).")),
        }),
        h("figcaption", { class: "muted small" }, "Plan (solid) against no action, from the power flow on the network twin.")),
    );
  } else {
    parts.push(h("p", { class: "muted small", id: "no-plot" }, "No plot for this request (matplotlib not installed, or no network twin)."));
  }
  return parts;
}

function doNothingText(detail) {
  const d = detail.do_nothing ?? detail.if_nobody_acts ?? detail.nothing_done;
  const by = `If nobody acts by ${hhmm(detail.expires_at)}: the request expires, nothing is sent, ` +
    `and the setpoint stays at ${kw(d?.setpoint_kw ?? detail.rollback_kw)}`;
  const summary = d && typeof d === "object" ? (d.summary ?? d.text ?? "") : (typeof d === "string" ? d : "");
  return `${by}. ${summary ? `Projected: ${summary}.` : ""}`;
}

function decisionForm(detail, ctx, onDecided) {
  const role = ctx.session.role;
  if (!roleAtLeast(role, "operator")) {
    return h("p", { class: "notice", id: "read-only" },
      `You are logged in as ${ctx.session.user} with role ${role}: you can read this request but only an operator can approve or reject it.`);
  }
  const status = h("div", { id: "decision-result", "aria-live": "polite" });
  const reason = h("textarea", { id: "decision-reason", rows: 2, placeholder: "Why (required to reject; recorded in the audit log)" });
  const approve = h("button", { type: "button", id: "approve-button", class: "primary" }, "Approve this plan");
  const reject = h("button", { type: "button", id: "reject-button", class: "danger" }, "Reject");
  const planHash = detail.plan_hash;

  async function decide(action) {
    status.replaceChildren();
    const text = reason.value.trim();
    if (action === "reject" && !text) {
      status.append(errorBox("A rejection needs a reason: say why in the box above."));
      reason.focus();
      return;
    }
    approve.disabled = reject.disabled = true;
    const body = action === "approve" ? { reason: text, plan_hash: planHash } : { reason: text };
    try {
      const r = await post(`/api/approvals/${encodeURIComponent(detail.dispatch_id)}/${action}`, body);
      let text;
      if (action === "reject") text = "Rejected: nothing is sent; the setpoint stays as it is.";
      else if (r.status === "pending") {
        text = `Your approval is recorded (${(r.approvers || []).length} of ${r.approvers_needed}): ` +
          "another operator must approve too before anything is sent.";
      } else text = `Approved (plan ${shortHash(planHash)}): the runtime re-checks it against fresh state, then sends it.`;
      status.append(h("p", { class: "ok", role: "status" }, text));
      onDecided(r);
      status.append(h("p", {}, h("a", { href: `#/dispatches/${encodeURIComponent(detail.dispatch_id)}`, id: "to-dispatch" },
        "Follow this dispatch to the device")));
    } catch (err) {
      let text = err instanceof ApiError ? err.detail : String(err);
      if (err instanceof ApiError && err.status === 409) text = `Not accepted: ${err.detail}`;
      if (err instanceof ApiError && err.status === 403) text = `Refused: ${err.detail}`;
      if (err instanceof ApiError && err.status === 404) {
        text = `No longer pending (decided, expired or superseded by a newer proposal): ${err.detail}`;
      }
      status.append(errorBox(text, { id: "decision-error" }));
      approve.disabled = reject.disabled = false;
    }
  }
  approve.addEventListener("click", () => decide("approve"));
  reject.addEventListener("click", () => decide("reject"));
  return h("div", { class: "decision" },
    h("label", { for: "decision-reason" }, "Reason"),
    reason,
    h("p", { class: "muted small" },
      `Approving binds your decision to this exact plan (hash ${shortHash(planHash)}). If the plan changed since this page loaded, the runtime refuses the approval.`),
    h("div", { class: "buttons" }, approve, reject),
    status);
}

export async function renderApproval(main, ctx, id) {
  main.append(h("p", {}, h("a", { href: "#/approvals" }, "← all pending approvals")));
  const holder = h("div", { id: "approval-detail" });
  main.append(holder);

  let shown = null; // what the page shows: status, approvers, plan hash, escalation
  const clock = new SiteClock();
  const countdown = h("span", { id: "expires-in", "aria-live": "off" }, "");
  let expiresAt = null;
  let ticking = false;

  // The countdown ticks every second on the site clock (it is not a snapshot of page load).
  function tick() {
    if (!ticking || !expiresAt) return;
    const left = (new Date(expiresAt).getTime() - clock.nowMs()) / 1000;
    countdown.textContent = left > 0 ? `in ${duration(left)}` : "expired";
    countdown.classList.toggle("urgent", left > 0 && left < 120);
  }
  const notice = h("div", { id: "approval-notice", "aria-live": "polite" });

  function fingerprint(d) {
    return JSON.stringify([d.status, d.approvers, d.plan_hash, d.escalated]);
  }

  // Someone else may decide, the request may expire or be superseded while this page is
  // open: say so at once, and take the buttons away when a decision is no longer possible.
  async function watch() {
    let d;
    try {
      d = await get(`/api/approvals/${encodeURIComponent(id)}`);
    } catch {
      return; // the header shows connection trouble
    }
    siteNow().then((n) => clock.sample(n));
    if (!ctx.current() || shown === null || fingerprint(d) === shown) return;
    shown = fingerprint(d);
    const closed = (d.status ?? "pending") !== "pending";
    if (closed) ticking = false;
    if (closed) countdown.textContent = d.status;
    notice.replaceChildren(h("p", { class: "notice", role: "status" },
      `Changed since this page loaded: status ${d.status}` +
      `${(d.approvers || []).length ? `, approved by ${d.approvers.join(", ")}` : ""}` +
      `${d.escalated ? ", escalated" : ""}.`,
      closed ? " No decision is possible any more." : " Reload the page to review it again.",
      d.successor ? [" ", h("a", { href: `#/approvals/${encodeURIComponent(d.successor)}`, id: "successor" },
        `Superseded by ${d.successor}: review that one`)] : null));
    const status = document.getElementById("approval-status");
    if (status) status.textContent = d.status ?? "pending";
    if (closed) {
      for (const b of holder.querySelectorAll("#approve-button, #reject-button")) b.disabled = true;
    }
  }

  async function load() {
    const [detail, now] = await Promise.all([get(`/api/approvals/${encodeURIComponent(id)}`), siteNow()]);
    if (!ctx.current()) return;
    shown = fingerprint(detail);
    const pending = (detail.status ?? "pending") === "pending";
    clock.sample(now);
    expiresAt = detail.expires_at;
    ticking = pending;
    tick();
    const needed = detail.approvers_needed ?? (detail.requirement === "two_operators" ? 2 : 1);
    const cmds = commandsOf(detail);
    const head = cmds[0] ?? {};
    holder.replaceChildren(
      h("h1", {}, `Approval ${detail.dispatch_id}`,
        detail.escalated ? h("span", { class: "badge bad" }, "ESCALATED") : null,
        h("span", { class: `badge ${pending ? "" : "done"}`, id: "approval-status" }, detail.status ?? "pending")),
      notice,
      h("div", { class: "columns" },
        h("div", {},
          section("The plan",
            h("p", { class: "lead", id: "plan-lead" }, `${detail.asset ?? head.asset}: ${setpointWords(head.kind ?? "active_power_kw", detail.value_kw ?? head.value)}`),
            planTable(cmds),
            dl([
              ["Needs", requirementText(detail.requirement)],
              ["Approved so far", h("span", { id: "approved-so-far" }, `${(detail.approvers || []).length} of ${needed}${(detail.approvers || []).length ? `: ${detail.approvers.join(", ")}` : ""}`)],
              ["Proposed by", detail.proposed_by || detail.proposer || undefined],
              ["Requested", utc(detail.requested_at)],
              ["Expires", h("span", {}, `${utc(detail.expires_at)} (`, countdown, ", site clock)")],
              ["Escalates", detail.escalate_at ? (detail.escalated ? `escalated (was due ${utc(detail.escalate_at)})` : utc(detail.escalate_at)) : undefined],
              ["Rollback point", detail.rollback_kw !== undefined ? `${kw(detail.rollback_kw)} (setpoint restored on revert)` : undefined],
              ["Plan hash", h("code", { id: "plan-hash", title: detail.plan_hash }, shortHash(detail.plan_hash))],
            ])),
          section("Why", h("p", { class: "lead", id: "rationale" }, detail.rationale ?? "")),
          section("Safety gate verdicts", verdictList(detail.verdicts)),
          stakesSection(detail),
          section("If nobody acts", h("p", { id: "do-nothing" }, doNothingText(detail))),
          historySection(detail),
          section("Decision", pending
            ? decisionForm(detail, ctx, (r) => {
                shown = null; // this page made the change: nothing to warn about
                const badge = document.getElementById("approval-status");
                if (badge && r?.status) {
                  badge.textContent = r.status;
                  badge.classList.toggle("done", r.status !== "pending");
                }
                const so = document.getElementById("approved-so-far");
                if (so && r?.approvers) {
                  so.textContent = `${r.approvers.length} of ${r.approvers_needed}: ${r.approvers.join(", ")}`;
                }
                countdown.textContent = r?.status === "pending" ? countdown.textContent : "decided";
                ticking = r?.status === "pending";
              })
            : h("p", { id: "decision-closed" }, `This request is ${detail.status}; no decision is possible any more.`,
                " ", detail.successor
                  ? [h("a", { href: `#/approvals/${encodeURIComponent(detail.successor)}`, id: "successor" },
                      `It was superseded by ${detail.successor}: review that one`), ". "]
                  : null,
                h("a", { href: `#/dispatches/${encodeURIComponent(detail.dispatch_id)}` }, "See the dispatch record"))),
          section("Explanation",
            h("details", {},
              h("summary", {}, "The full decision record: telemetry seen, models, gate, simulation"),
              h("pre", { class: "explain", id: "explanation" }, detail.explanation ?? "No explanation recorded.")))),
        h("div", {}, section("Simulation", ...simulation(detail)))),
    );
  }

  try {
    await load();
    ctx.every(5000, watch);
    ctx.every(1000, tick);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      holder.replaceChildren(errorBox(`${id} is not awaiting approval any more (decided, expired or superseded).`),
        h("p", {}, h("a", { href: `#/dispatches/${encodeURIComponent(id)}` }, "See what happened to it")));
      return;
    }
    throw err;
  }
}

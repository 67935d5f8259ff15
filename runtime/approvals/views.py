"""Read-only views of the approval book, pure over the event log.

``detail`` assembles what an operator needs to decide one request (plan, verdicts,
simulation, grid report and plot, a short explanation and the whole decision record,
rollback point, the outcome of doing nothing); ``metrics`` counts decisions and times
them. Both are re-exported by ``runtime.approvals.book``, which holds the rules and the actions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runtime.audit import explain
from runtime.core.errors import NotFound
from runtime.decide.approval_rule import NEEDED
from runtime.log.dispatch import IllegalTransition, State, next_state
from runtime.log.eventlog import Event, EventLog

REQUESTED = "approval.requested"
GRANTED = "approval.granted"
REFUSED = "approval.rejected"
EXPIRED = "approval.expired"
ESCALATED = "approval.escalated"
AUTO = "approval.auto"
TERMINAL = (
    "dispatch.approved",  # in the outbox: no longer waiting for anyone
    "dispatch.sent",
    "dispatch.rejected",
    "dispatch.blocked",
    "dispatch.superseded",
    "dispatch.expired",
    EXPIRED,
    REFUSED,
)


def describe_plan(commands: Sequence[Mapping[str, Any]]) -> str:
    """One line per command, as an operator reads it."""
    parts = []
    for c in commands:
        start = datetime.fromisoformat(str(c["start"]))
        end = datetime.fromisoformat(str(c["end"]))
        value = float(c["value"])
        unit = "%" if str(c["kind"]).endswith("_pct") else "kW"
        words = ""
        if c["kind"] == "active_power_kw":
            words = " (discharge)" if value > 0 else " (charge)" if value < 0 else " (idle)"
        parts.append(
            f"{c['asset']} {c['kind']} = {value:g} {unit}{words} "
            f"from {start:%H:%M} to {end:%H:%M} UTC"
        )
    return "; ".join(parts) or "no commands recorded"


# --- metrics -----------------------------------------------------------------------


def _quantile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks; None for no data."""
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalMetrics:
    """Human sign-off, counted from the log.

    ``time_to_decision_s``: request to the deciding human act (the grant that completed
    the rule, or the rejection), in request order. ``human_intervention_rate``: requests
    that needed a human over every approval decision (requests + automatic approvals).
    ``blocked_at_approval``: approved by people, then stopped by the re-check against
    fresh state (gate or simulator).
    """

    time_to_decision_s: list[float] = field(default_factory=list)
    requested: int = 0
    auto: int = 0
    approved: int = 0
    rejected: int = 0
    expired: int = 0
    escalated: int = 0
    superseded: int = 0
    blocked_at_approval: int = 0
    pending: int = 0
    oldest_pending_s: float | None = None
    human_intervention_rate: float = 0.0

    @property
    def p50_s(self) -> float | None:
        return _quantile(self.time_to_decision_s, 0.5)

    @property
    def p90_s(self) -> float | None:
        return _quantile(self.time_to_decision_s, 0.9)

    def as_json(self) -> dict[str, Any]:
        return {
            "time_to_decision_s": list(self.time_to_decision_s),
            "time_to_decision_p50_s": self.p50_s,
            "time_to_decision_p90_s": self.p90_s,
            "requested": self.requested,
            "auto": self.auto,
            "approved": self.approved,
            "rejected": self.rejected,
            "expired": self.expired,
            "escalated": self.escalated,
            "superseded": self.superseded,
            "blocked_at_approval": self.blocked_at_approval,
            "pending": self.pending,
            "oldest_pending_s": self.oldest_pending_s,
            "human_intervention_rate": self.human_intervention_rate,
        }


@dataclass(slots=True)
class _Open:
    requested_at: datetime
    needed: int
    approvers: set[str] = field(default_factory=set)
    approved: bool = False


METRICS_KINDS = (REQUESTED, GRANTED, REFUSED, EXPIRED, ESCALATED, AUTO, *TERMINAL)
_COUNTED = ("requested", "auto", "approved", "rejected", "expired", "escalated", "superseded")


class MetricsFold:
    """The approval figures as a fold, one event at a time (``apply``), read at any
    ``now`` (``figures``): the full read (``metrics``) and the incremental
    ``runtime.approvals.projection`` share it, so they count alike."""

    __slots__ = ("_blocked", "_n", "_open", "_times")

    def __init__(self) -> None:
        self._open: dict[str, _Open] = {}
        self._times: list[float] = []
        self._n: dict[str, int] = dict.fromkeys(_COUNTED, 0)
        self._blocked = 0

    def apply(self, event: Event) -> None:
        did = event.dispatch_id
        if did is None or event.kind not in METRICS_KINDS:
            return
        n = self._n
        if event.kind == AUTO:
            n["auto"] += 1
            return
        if event.kind == REQUESTED:
            n["requested"] += 1
            needed = NEEDED.get(str(event.payload["requirement"]), 1)
            self._open[did] = _Open(requested_at=event.ts, needed=needed)
            return
        request = self._open.get(did)
        if request is None:
            return
        waited_s = (event.ts - request.requested_at).total_seconds()
        match event.kind:
            case "approval.granted":
                request.approvers.add(str(event.payload["user"]))
                if not request.approved and len(request.approvers) >= request.needed:
                    request.approved = True
                    n["approved"] += 1
                    self._times.append(waited_s)
            case "approval.escalated":
                n["escalated"] += 1
            case "approval.rejected":
                n["rejected"] += 1
                self._times.append(waited_s)
                del self._open[did]
            case "approval.expired":
                n["expired"] += 1
                del self._open[did]
            case "dispatch.superseded":
                n["superseded"] += 1
                del self._open[did]
            case "dispatch.rejected" | "dispatch.blocked" | "dispatch.expired":
                self._blocked += int(request.approved)
                del self._open[did]
            case _:  # dispatch.approved / sent: in the outbox, out of the book
                del self._open[did]

    def figures(self, now: datetime) -> ApprovalMetrics:
        """The figures so far (``now`` ages the open requests); copies, never shared state."""
        waiting = [
            (now - r.requested_at).total_seconds() for r in self._open.values() if not r.approved
        ]
        decisions = self._n["requested"] + self._n["auto"]
        return ApprovalMetrics(
            time_to_decision_s=list(self._times),
            blocked_at_approval=self._blocked,
            pending=len(waiting),
            oldest_pending_s=max(waiting) if waiting else None,
            human_intervention_rate=self._n["requested"] / decisions if decisions else 0.0,
            **self._n,
        )


def metrics(log: EventLog, now: datetime) -> ApprovalMetrics:
    """Counts and decision times over the whole log (``now`` ages the open requests)."""
    fold = MetricsFold()
    for event in log.events(kinds=METRICS_KINDS):
        fold.apply(event)
    return fold.figures(now)


# --- one request in full -------------------------------------------------------------


def _first(chain: list[Event], kind: str) -> Event | None:
    return next((e for e in chain if e.kind == kind), None)


def _status(chain: list[Event], needed: int, approvers: list[str]) -> str:
    state: State | None = None
    try:
        for e in chain:
            state = next_state(state, e.kind)
    except IllegalTransition as err:
        return f"inconsistent record ({err})"
    if state is State.AWAITING_APPROVAL:
        return "approved" if len(set(approvers)) >= needed else "pending"
    return state.value if state else "unknown"


def _do_nothing(
    proposed: Mapping[str, Any] | None,
    simulated: Mapping[str, Any] | None,
    grid: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """What the feeder does if nobody acts: the setpoint stays, the baseline runs."""
    held_kw = float(proposed["rollback_kw"]) if proposed else None
    held = f"{held_kw:g} kW" if held_kw is not None else "its present value"
    out: dict[str, Any] = {"setpoint_kw": held_kw, "source": None, "summary": ""}
    if grid is not None and "kpis" in grid:
        base = grid["kpis"]["baseline"]
        violations = [v.get("message", v.get("kind", "")) for v in grid["baseline_violations"]]
        out.update(
            source="grid power flow, no-action baseline",
            peak_import_kw=base["peak_import_kw"],
            vmin_pu=base["vmin_pu"],
            vmin_bus=base["vmin_bus"],
            max_loading_pct=base["max_loading_pct"],
            violations=violations,
        )
        loading = (
            f", max loading {base['max_loading_pct']:.0f} %"
            if base.get("max_loading_pct") is not None
            else ""
        )
        trouble = "; ".join(violations[:3]) if violations else "no violations"
        out["summary"] = (
            f"the setpoint stays at {held}; the feeder peaks at {base['peak_import_kw']:.0f} kW "
            f"import, vmin {base['vmin_pu']:.3f} pu at {base['vmin_bus']}{loading}; {trouble}"
        )
    elif simulated is not None:
        out.update(source="feeder simulation, no-action baseline")
        out["peak_import_kw"] = simulated["peak_kw_baseline"]
        out["summary"] = (
            f"the setpoint stays at {held}; the feeder peaks at "
            f"{simulated['peak_kw_baseline']:.0f} kW (with the plan: "
            f"{simulated['peak_kw_plan']:.0f} kW)"
        )
    else:
        out["summary"] = f"the setpoint stays at {held}; no simulation was recorded"
    return out


def _explanation(
    proposed: Mapping[str, Any] | None,
    verdicts: list[dict[str, Any]],
    simulation: str,
    do_nothing: str,
    plan: str,
) -> str:
    """A short, deterministic account (no model call: it must never block a decision)."""
    parts = []
    if proposed is not None:
        parts.append(f"{proposed['policy']} proposes {plan} because {proposed['rationale']}.")
    else:
        parts.append(f"Plan: {plan}.")
    if verdicts:
        v = verdicts[0]
        hits = "; ".join(f"{h['constraint']}: {h['reason']}" for h in v["constraints"])
        allows = f" allows {v['value']:g} kW" if v["value"] is not None else ""
        parts.append(f"The safety gate {v['outcome']}{allows}" + (f" ({hits})." if hits else "."))
    if simulation:
        parts.append(f"Simulation: {simulation}.")
    parts.append(f"If nobody acts: {do_nothing}.")
    if proposed is not None:
        parts.append(f"Rollback point: {float(proposed['rollback_kw']):g} kW.")
    return " ".join(parts)


def detail(log: EventLog, dispatch_id: str) -> dict[str, Any]:
    """Everything about one approval request, from the log (any status, for the console)."""
    chain = list(log.events(dispatch_id=dispatch_id))
    request_event = _first(chain, REQUESTED)
    if request_event is None:
        raise NotFound(
            f"dispatch {dispatch_id} never needed an approval; see `gridaios explain {dispatch_id}`"
        )
    req = request_event.payload
    proposed_event = _first(chain, "dispatch.proposed")
    proposed = proposed_event.payload if proposed_event else None
    grants = [
        {
            "user": e.payload["user"],
            "reason": e.payload.get("reason", ""),
            "plan_hash": e.payload.get("plan_hash"),
            "ts": e.ts.isoformat(),
        }
        for e in chain
        if e.kind == GRANTED
    ]
    approvers = [g["user"] for g in grants]
    needed = NEEDED.get(str(req["requirement"]), 1)
    verdicts = [
        {
            "seq": e.seq,
            "outcome": e.payload["outcome"],
            "value": e.payload["value"],
            "recheck": bool(e.payload.get("recheck", False)),
            "constraints": [dict(h) for h in e.payload["constraints"]],
            "ts": e.ts.isoformat(),
        }
        for e in chain
        if e.kind == "dispatch.gated"
    ]
    sims = [dict(e.payload) for e in chain if e.kind == "dispatch.simulated"]
    grids = [dict(e.payload) for e in chain if e.kind == "dispatch.grid_validated"]
    grid_report = req.get("grid_report") or (grids[0]["report"] if grids else None)
    simulation_text = str(req.get("simulation", ""))
    nothing = _do_nothing(proposed, sims[0] if sims else None, grid_report)
    commands = [dict(c) for c in req.get("commands", [])]
    if not commands and proposed is not None:  # a v1 request: the proposal at the gated value
        commands = [{**dict(proposed["command"]), "value": req["value"]}]
    plan = describe_plan(commands)
    escalation = _first(chain, ESCALATED)
    closing = next((e for e in chain if e.kind in (REFUSED, EXPIRED, *TERMINAL)), None)
    decision = None
    if closing is not None:
        decision = {
            "kind": closing.kind,
            "by": closing.payload.get("user"),
            "reason": closing.payload.get("reason", ""),
            "ts": closing.ts.isoformat(),
        }
    plot = req.get("plot")
    superseded = _first(chain, "dispatch.superseded")
    history = [
        {
            "ts": e.ts.isoformat(),
            "proposed_kw": e.payload["proposed_kw"],
            "pending_kw": e.payload["pending_kw"],
            "tolerance_kw": e.payload["tolerance_kw"],
        }
        for e in chain
        if e.kind == "approval.reconfirmed"
    ]
    return {
        "successor": superseded.payload.get("successor") if superseded else None,
        "history": history,
        "dispatch_id": dispatch_id,
        "status": _status(chain, needed, approvers),
        "asset": req["asset"],
        "value_kw": req["value"],
        "requirement": req["requirement"],
        "approvals_needed": needed,
        "approvers": approvers,
        "grants": grants,
        "proposed_by": req.get("proposed_by") or "",
        "requested_at": request_event.ts.isoformat(),
        "expires_at": str(req["expires_at"]),
        "escalate_at": str(req["escalate_at"]) if req.get("escalate_at") else None,
        "escalated": escalation is not None,
        "escalate_to": list(escalation.payload["escalate_to"]) if escalation else [],
        "plan_hash": req.get("plan_hash"),
        "commands": commands,
        "plan": plan,
        "policy": proposed["policy"] if proposed else None,
        "rationale": req["rationale"],
        "verdicts": verdicts,
        "simulation": {"summary": simulation_text, "runs": sims},
        "grid_report": grid_report,
        "grid_checks": grids,
        "plot": plot,
        "plot_url": f"/api/approvals/{dispatch_id}/plot.png" if plot else None,
        "rollback_kw": (
            req.get("rollback_kw")
            if req.get("rollback_kw") is not None
            else (proposed["rollback_kw"] if proposed else None)
        ),
        "do_nothing": nothing,
        "explanation": _explanation(proposed, verdicts, simulation_text, nothing["summary"], plan),
        # the whole decision record (`gridaios explain`): telemetry seen, models, gate, ...
        "decision_record": explain.explain(log, dispatch_id),
        "decision": decision,
        "events": [{"seq": e.seq, "ts": e.ts.isoformat(), "kind": e.kind} for e in chain],
    }

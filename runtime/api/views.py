"""Event-log records shaped for the API: pure functions of the events of one dispatch."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from runtime import approvals
from runtime.api.schemas import (
    ApprovalDetail,
    ApprovalOut,
    DispatchOut,
    DoNothing,
    ExplainedEvent,
    Hit,
    PlanCommand,
    ProposalOut,
    Simulation,
    Verdict,
)
from runtime.dispatch import IllegalTransition, next_state
from runtime.eventlog import Event
from runtime.explain import RENDER


def state_of(chain: Sequence[Event]) -> str:
    state = None
    try:
        for e in chain:
            state = next_state(state, e.kind)
    except IllegalTransition:
        return "inconsistent"
    return state.value if state else "unknown"


def _first(chain: Sequence[Event], kind: str) -> Event | None:
    return next((e for e in chain if e.kind == kind), None)


def plan_commands(proposed: Mapping[str, Any], value_kw: float) -> list[dict[str, Any]]:
    """The plan an operator signs: the proposed command at the value the gate allowed."""
    return [{**dict(proposed["command"]), "value": value_kw}]


def plan_hash(request: Mapping[str, Any], proposed: Mapping[str, Any] | None) -> str:
    """The request's recorded plan_hash; for requests recorded without one (older logs,
    or before runtime.approvals records it: COMPAT issue 9), sha256 of the canonical
    JSON of the plan's commands."""
    recorded = request.get("plan_hash")
    if recorded:
        return str(recorded)
    commands = plan_commands(proposed, float(request["value"])) if proposed else []
    text = json.dumps(commands, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def approval_item(
    p: approvals.PendingApproval, escalated: bool, proposed: Mapping[str, Any] | None
) -> ApprovalOut:
    r = p.request
    return ApprovalOut(
        dispatch_id=p.dispatch_id,
        asset=str(r.get("asset", "")),
        value_kw=float(r.get("value", 0.0)),
        requirement=p.requirement.value,
        approvers=list(p.approvers),
        requested_at=p.requested_at,
        expires_at=p.expires_at,
        escalated=escalated or bool(getattr(p, "escalated", False)),
        plan_hash=plan_hash(r, proposed),
        rationale=str(r.get("rationale", "")),
    )


def verdicts(chain: Sequence[Event]) -> list[Verdict]:
    return [
        Verdict(
            seq=e.seq,
            ts=e.ts,
            outcome=str(e.payload["outcome"]),
            value_kw=e.payload.get("value"),
            recheck=bool(e.payload.get("recheck", False)),
            constraints=[Hit(**h) for h in e.payload.get("constraints", [])],
        )
        for e in chain
        if e.kind == "dispatch.gated"
    ]


def approval_detail(
    chain: Sequence[Event],
    *,
    pending: approvals.PendingApproval | None,
    escalated: bool,
    explanation: str,
    plot_url: str | None,
) -> ApprovalDetail:
    requested = _first(chain, "approval.requested")
    proposed = _first(chain, "dispatch.proposed")
    assert requested is not None
    r = requested.payload
    requirement = approvals.Requirement(str(r["requirement"]))
    approvers = [str(e.payload["user"]) for e in chain if e.kind == "approval.granted"]
    value_kw = float(r["value"])
    sim_event = next((e for e in reversed(chain) if e.kind == "dispatch.simulated"), None)
    sim = None
    if sim_event is not None:
        s = sim_event.payload
        sim = Simulation(
            ok=bool(s["ok"]),
            summary=str(s["summary"]),
            steps=int(s["steps"]),
            step_s=float(s["step_s"]),
            peak_kw_plan=float(s["peak_kw_plan"]),
            peak_kw_baseline=float(s["peak_kw_baseline"]),
            energy_shifted_kwh=float(s["energy_shifted_kwh"]),
            violations=[dict(v) for v in s.get("violations", [])],
        )
    if r.get("rollback_kw") is not None:  # recorded with the request (approval.requested v2)
        rollback_kw = float(r["rollback_kw"])
    else:
        rollback_kw = float(proposed.payload["rollback_kw"]) if proposed else 0.0
    # the plan bound to the request when it recorded one, else the proposal at the gated value
    commands = list(r.get("commands") or [])
    if not commands and proposed is not None:
        commands = plan_commands(proposed.payload, value_kw)
    plan = [
        PlanCommand(
            key=c["key"],
            asset=c["asset"],
            kind=c["kind"],
            value_kw=float(c["value"]),
            start=c["start"],
            end=c["end"],
            origin=c["origin"],
        )
        for c in commands
    ]
    asset = str(r["asset"])
    if sim is not None:
        nothing = (
            f"{asset} stays at {rollback_kw:g} kW; the feeder peaks at "
            f"{sim.peak_kw_baseline:.0f} kW (with the plan: {sim.peak_kw_plan:.0f} kW)"
        )
    else:
        nothing = f"{asset} stays at {rollback_kw:g} kW (no simulation recorded)"
    return ApprovalDetail(
        dispatch_id=requested.dispatch_id or "",
        asset=asset,
        value_kw=value_kw,
        requirement=requirement.value,
        approvers=approvers,
        requested_at=requested.ts,
        expires_at=r["expires_at"],
        escalated=escalated,
        plan_hash=plan_hash(r, proposed.payload if proposed else None),
        rationale=str(r.get("rationale", "")),
        status="pending" if pending is not None else state_of(chain),
        proposed_by=str(r.get("proposed_by", "")),
        approvers_needed=requirement.approvers,
        plan=plan,
        verdicts=verdicts(chain),
        simulation=sim,
        simulation_summary=str(r.get("simulation", "")),
        grid_report=r.get("grid_report"),
        plot_url=plot_url,
        explanation=explanation,
        rollback_kw=rollback_kw,
        do_nothing=DoNothing(
            summary=nothing,
            peak_kw=sim.peak_kw_baseline if sim else None,
            setpoint_kw=rollback_kw,
        ),
    )


def proposal(chain: Sequence[Event]) -> ProposalOut | None:
    proposed = _first(chain, "dispatch.proposed")
    if proposed is None:
        return None
    p = proposed.payload
    gated = next(
        (e for e in chain if e.kind == "dispatch.gated" and not e.payload.get("recheck")), None
    )
    return ProposalOut(
        dispatch_id=proposed.dispatch_id or "",
        ts=proposed.ts,
        asset=str(p["command"]["asset"]),
        value_kw=float(p["command"]["value"]),
        policy=str(p["policy"]),
        rationale=str(p["rationale"]),
        verdict=str(gated.payload["outcome"]) if gated else "none",
        allowed_kw=gated.payload.get("value") if gated else None,
        reasons=[str(h["reason"]) for h in gated.payload["constraints"]] if gated else [],
        state=state_of(chain),
    )


def dispatch_row(chain: Sequence[Event]) -> DispatchOut | None:
    proposed = _first(chain, "dispatch.proposed")
    if proposed is None:
        return None
    p = proposed.payload
    approved = _first(chain, "dispatch.approved")
    requested = _first(chain, "approval.requested")
    value = float(approved.payload["value"]) if approved else float(p["command"]["value"])
    return DispatchOut(
        dispatch_id=proposed.dispatch_id or "",
        asset=str(p["command"]["asset"]),
        value_kw=value,
        state=state_of(chain),
        ts=proposed.ts,
        updated=chain[-1].ts,
        requirement=str(requested.payload["requirement"]) if requested else "",
        approvers=[str(e.payload["user"]) for e in chain if e.kind == "approval.granted"],
        source=str(approved.payload["source"]) if approved else "",
        rollback_kw=float(p["rollback_kw"]),
        attempts=max(
            (int(e.payload["attempt"]) for e in chain if e.kind == "dispatch.sent"), default=0
        ),
    )


def explained(event: Event) -> ExplainedEvent:
    render = RENDER.get(event.kind)
    lines = render(event.payload, event.ts) if render else [f"{event.kind}"]
    return ExplainedEvent(
        seq=event.seq,
        ts=event.ts,
        kind=event.kind,
        dispatch_id=event.dispatch_id,
        payload=dict(event.payload),
        hash=event.hash,
        lines=lines,
    )

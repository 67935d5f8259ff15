"""Event-log records shaped for the API: pure functions of the events of one dispatch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
from runtime.approvals import book as approvals
from runtime.audit.explain import RENDER
from runtime.log.dispatch import IllegalTransition, next_state
from runtime.log.eventlog import Event


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


def approval_item(p: approvals.PendingApproval) -> ApprovalOut:
    r = p.request
    return ApprovalOut(
        dispatch_id=p.dispatch_id,
        asset=str(r.get("asset", "")),
        value_kw=float(r.get("value", 0.0)),
        requirement=p.requirement.value,
        approvers=list(p.approvers),
        requested_at=p.requested_at,
        expires_at=p.expires_at,
        escalated=p.escalated,
        plan_hash=p.plan_hash,
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


def _simulation(runs: Sequence[Mapping[str, Any]]) -> Simulation | None:
    """The latest simulation run of the plan (a re-check runs it again)."""
    if not runs:
        return None
    s = runs[-1]
    return Simulation(
        ok=bool(s["ok"]),
        summary=str(s["summary"]),
        steps=int(s["steps"]),
        step_s=float(s["step_s"]),
        peak_kw_plan=float(s["peak_kw_plan"]),
        peak_kw_baseline=float(s["peak_kw_baseline"]),
        energy_shifted_kwh=float(s["energy_shifted_kwh"]),
        violations=[dict(v) for v in s.get("violations", [])],
    )


def approval_detail(d: Mapping[str, Any], *, plot_url: str | None) -> ApprovalDetail:
    """``approvals.detail`` as the API's response; ``plot_url`` only when the file exists."""
    rollback_kw = float(d["rollback_kw"]) if d["rollback_kw"] is not None else 0.0
    nothing = d["do_nothing"]
    return ApprovalDetail(
        dispatch_id=d["dispatch_id"],
        asset=str(d["asset"]),
        value_kw=float(d["value_kw"]),
        requirement=str(d["requirement"]),
        approvers=list(d["approvers"]),
        requested_at=d["requested_at"],
        expires_at=d["expires_at"],
        escalated=bool(d["escalated"]),
        plan_hash=d["plan_hash"],
        rationale=str(d["rationale"]),
        status=str(d["status"]),
        proposed_by=str(d["proposed_by"]),
        approvers_needed=int(d["approvals_needed"]),
        plan=[
            PlanCommand(
                key=c["key"],
                asset=c["asset"],
                kind=c["kind"],
                value_kw=float(c["value"]),
                start=c["start"],
                end=c["end"],
                origin=c["origin"],
            )
            for c in d["commands"]
        ],
        verdicts=[
            Verdict(
                seq=v["seq"],
                ts=v["ts"],
                outcome=str(v["outcome"]),
                value_kw=v["value"],
                recheck=bool(v["recheck"]),
                constraints=[Hit(**h) for h in v["constraints"]],
            )
            for v in d["verdicts"]
        ],
        simulation=_simulation(d["simulation"]["runs"]),
        simulation_summary=str(d["simulation"]["summary"]),
        grid_report=d["grid_report"],
        plot_url=plot_url,
        explanation=str(d["decision_record"]),  # the console shows the whole record
        rollback_kw=rollback_kw,
        do_nothing=DoNothing(
            summary=str(nothing["summary"]),
            peak_kw=nothing.get("peak_import_kw"),
            setpoint_kw=(
                float(nothing["setpoint_kw"]) if nothing["setpoint_kw"] is not None else rollback_kw
            ),
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


def explained(event: Event, unit: str = "kW") -> ExplainedEvent:
    """One event as the operator reads it; ``unit``: its dispatch's (``explain.unit_of``)."""
    render = RENDER.get(event.kind)
    lines = render(event.payload, event.ts, unit) if render else [f"{event.kind}"]
    return ExplainedEvent(
        seq=event.seq,
        ts=event.ts,
        kind=event.kind,
        dispatch_id=event.dispatch_id,
        payload=dict(event.payload),
        hash=event.hash,
        lines=lines,
    )

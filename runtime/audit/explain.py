"""The decision record of one dispatch, readable by an operator.

Telemetry snapshot, forecast and model versions, proposal, verdicts with reasons,
simulation report, approvals (who proposed, the plan hash, who approved and when,
who was called on escalation), send attempts, ack and read-back,
each from the event log (the single source of truth).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from runtime.core.errors import NotFound
from runtime.log.dispatch import IllegalTransition, next_state
from runtime.log.eventlog import Event, EventLog
from safety import CommandKind


def _t(ts: datetime) -> str:
    return f"{ts:%Y-%m-%d %H:%M:%S} UTC"


def _kw(v: object, unit: str = "kW") -> str:
    """A setpoint in the dispatch's unit (kW for power, % for a curtailment...)."""
    return "-" if v is None else f"{float(v):g} {unit}"  # type: ignore[arg-type]


def unit_of(chain: Sequence[Event]) -> str:
    """The unit of a dispatch's values, from the command its first events carry."""
    for event in chain:
        command = event.payload.get("command")
        if isinstance(command, Mapping) and "kind" in command:
            try:
                return CommandKind(str(command["kind"])).unit
            except ValueError:
                break
    return "kW"


def _proposed(p: Mapping[str, Any], ts: datetime, u: str) -> list[str]:
    c = p["command"]
    start, end = datetime.fromisoformat(str(c["start"])), datetime.fromisoformat(str(c["end"]))
    lines = [
        f"proposed by {p['policy']}: {c['asset']} {c['kind']} = {_kw(c['value'], u)} "
        f"from {start:%H:%M} to {end:%H:%M} UTC (origin {c['origin']})",
        f"  why: {p['rationale']}",
        f"  previous setpoint (rollback point): {_kw(p['rollback_kw'], u)}",
        "  models: "
        + (", ".join(f"{k}={v}" for k, v in p.get("models", {}).items()) or "none recorded"),
        f"  site config: {p.get('config_sha') or 'not recorded (older log)'}",
    ]
    if p.get("inputs"):
        lines.append("  policy inputs: " + ", ".join(f"{k}={v:g}" for k, v in p["inputs"].items()))
    lines.append("  telemetry snapshot the decision saw:")
    for point, r in sorted(p["snapshot"].items()):
        at = datetime.fromisoformat(str(r["ts"]))
        age_s = (ts - at).total_seconds()
        age = f"{age_s:5.0f} s old" if age_s >= 0 else f"stamped {at:%Y-%m-%d %H:%M:%S} (ahead)"
        lines.append(f"    {point:<24} {r['value']:>10.2f}  {r['quality']:<9} {age}")
    return lines


def _gated(p: Mapping[str, Any], ts: datetime, u: str) -> list[str]:
    label = "gate re-check" if p.get("recheck") else "gate"
    lines = [
        f"{label}: {p['outcome']}"
        + (f", allows {_kw(p['value'], u)}" if p["value"] is not None else "")
    ]
    lines += [f"  {h['constraint']}: {h['reason']}" for h in p["constraints"]]
    # v2: the gate's other inputs, as it took them (a v1 record is upcast with a note)
    if "history" in p:
        n = len(p["history"])
        lines.append(
            f"  history: {n} recent dispatch{'es' if n != 1 else ''} of the asset "
            "(ramp, rate limit, minimum on/off)"
        )
    if "forecast_note" in p:
        given = "forecast given" if p.get("forecast") else "no forecast"
        lines.append(f"  forecast: {given}; {p['forecast_note'] or 'no note recorded'}")
    return lines


def _requested(p: Mapping[str, Any], ts: datetime, u: str) -> list[str]:
    return [
        f"approval requested ({p['requirement']}), expires {p['expires_at']}",
        f"  proposed by: {p.get('proposed_by') or 'not recorded (older request)'}",
        f"  plan_hash: {p.get('plan_hash') or 'none recorded (v1 request, bound to no plan)'}",
    ]


def _escalated(p: Mapping[str, Any], ts: datetime, u: str) -> list[str]:
    called = ", ".join(p["escalate_to"]) or "nobody configured"
    return [
        f"escalated: called {called} at {ts:%H:%M:%S} UTC, "
        f"{float(p['after_s']):g} s unanswered ({p['reason']})"
    ]


def _simulated(p: Mapping[str, Any], ts: datetime, u: str) -> list[str]:
    lines = [
        f"simulation: {'ok' if p['ok'] else 'VIOLATIONS'}: {p['summary']}",
        f"  {p['steps']} steps of {p['step_s']:g} s; peak {p['peak_kw_plan']:.0f} kW with the "
        f"plan vs {p['peak_kw_baseline']:.0f} kW without; "
        f"{p['energy_shifted_kwh']:.1f} kWh shifted",
    ]
    lines += [f"  {v['message']}" for v in p["violations"][:5]]
    return lines


# event kind -> its lines, given the payload, the time and the dispatch's unit
Renderer = Callable[[Mapping[str, Any], datetime, str], list[str]]
RENDER: dict[str, Renderer] = {
    "dispatch.proposed": _proposed,
    "dispatch.gated": _gated,
    "dispatch.simulated": _simulated,
    "dispatch.grid_validated": lambda p, ts, u: [
        f"power flow: {'ok' if p['ok'] else 'VIOLATIONS'}: {p['summary']}"
    ],
    "approval.reconfirmed": lambda p, ts, u: [
        f"a later cycle proposed {_kw(p['proposed_kw'], u)}, within {p['tolerance_kw']:g} kW "
        f"of this request's {_kw(p['pending_kw'], u)}: the request stands"
    ],
    "dispatch.rejected": lambda p, ts, u: [f"rejected: {p['reason']}"],
    "dispatch.blocked": lambda p, ts, u: [f"blocked by the simulator: {p['reason']}"],
    "dispatch.superseded": lambda p, ts, u: [f"superseded: {p['reason']}"],
    "approval.auto": lambda p, ts, u: [f"approved automatically: {p['reason']}"],
    "approval.requested": _requested,
    "approval.escalated": _escalated,
    "approval.granted": lambda p, ts, u: [f"approved by {p['user']}: {p.get('reason') or '-'}"],
    "approval.rejected": lambda p, ts, u: [f"rejected by {p['user']}: {p['reason']}"],
    "approval.expired": lambda p, ts, u: [f"approval expired: {p['reason']}"],
    "dispatch.approved": lambda p, ts, u: [
        f"outbox: {_kw(p['value'], u)} to source {p['source']} recorded durably "
        f"(key {p['command']['key']}, up to {p['max_attempts']} attempts)"
    ],
    "dispatch.sent": lambda p, ts, u: [f"sent: attempt {p['attempt']}, {_kw(p['value'], u)}"],
    "dispatch.acked": lambda p, ts, u: [
        f"acked: device applied key {p['applied_key']}; read-back {_kw(p['readback_kw'], u)}"
    ],
    "dispatch.verified": lambda p, ts, u: [f"verified: the device runs {_kw(p['value'], u)}"],
    "dispatch.failed": lambda p, ts, u: [f"failed (attempt {p['attempt']}): {p['reason']}"],
    "dispatch.retried": lambda p, ts, u: [
        f"retry: attempt {p['attempt']} in {p['delay_s']:g} s, same key ({p['reason']})"
    ],
    "dispatch.resumed": lambda p, ts, u: [
        f"resumed after a restart from state {p['from_state']}: attempt {p['attempt']}, same key"
    ],
    "dispatch.dead_lettered": lambda p, ts, u: [
        f"dead-lettered: {p['reason']} (gridaios dlq retry {p.get('dlq_id')})"
    ],
    "dispatch.expired": lambda p, ts, u: [f"expired: {p['reason']}"],
    "dispatch.revert_requested": lambda p, ts, u: [
        f"revert requested by {p['user']}: {p['reason']}"
    ],
    "dispatch.reverted": lambda p, ts, u: [
        f"reverted to {_kw(p['value'], u)} by {p['by']} ({p['revert_key']}): {p['reason']}"
    ],
    "agent.curtailment_observed": lambda p, ts, u: [
        f"response observed: {p['outcome']} (action: {p['action']})",
        f"  {p['reason']}",
    ],
}


def explain(log: EventLog, dispatch_id: str) -> str:
    chain = list(log.events(dispatch_id=dispatch_id))
    if not chain:
        raise NotFound(f"no events for dispatch {dispatch_id}; see `gridaios audit show`")
    state = _state(chain)
    unit = unit_of(chain)
    out = [f"dispatch {dispatch_id}: {state}", ""]
    for event in chain:
        render = RENDER.get(event.kind)
        body = (
            render(event.payload, event.ts, unit)
            if render
            else [f"{event.kind}: " + "; ".join(f"{k} {v}" for k, v in event.payload.items())]
        )
        out.append(f"{_t(event.ts)}  #{event.seq}  {body[0]}")
        out += [f"{'':>30}{line}" for line in body[1:]]
    return "\n".join(out)


def _state(chain: list[Event]) -> str:
    state = None
    try:
        for e in chain:
            state = next_state(state, e.kind)
    except IllegalTransition as err:
        return f"inconsistent record ({err})"
    return state.value if state else "unknown"

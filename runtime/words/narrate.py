"""A dispatch explained in sentences: deterministic templates over its typed events.

Every number in the text is read from a named field of an event in the chain
(the proposal's command value and rationale, the gate's outcome and value, the
twin's peaks, the approvers, the device's read-back). No model writes here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from runtime.log.eventlog import Event


def _num(v: object, unit: str) -> str:
    return f"{float(v):g} {unit}" if isinstance(v, (int, float)) else "-"


def _at(ts: datetime, zone: ZoneInfo) -> str:
    return f"{ts.astimezone(zone):%H:%M} {zone.key}"


def _what(c: Mapping[str, Any]) -> tuple[str, str]:
    """(the command in words, its unit) from a command body."""
    value = float(c["value"])
    if c["kind"] == "curtail_pct":
        return f"curtail {c['asset']} by {value:g} %", "%"
    if value > 0:
        return f"discharge {c['asset']} at {value:g} kW", "kW"
    if value < 0:
        return f"charge {c['asset']} at {abs(value):g} kW", "kW"
    return f"bring {c['asset']} to 0 kW", "kW"


def narrate(chain: Sequence[Event], zone: ZoneInfo) -> str:
    """Sentences: why, what the gate did and why, the twin, who approved, what the device did."""
    out: list[str] = []
    unit = "kW"
    for e in chain:
        p = e.payload
        if e.compacted:
            continue
        if e.kind == "dispatch.proposed":
            what, unit = _what(p["command"])
            end = datetime.fromisoformat(str(p["command"]["end"]))
            out.append(
                f"At {_at(e.ts, zone)} {p['policy']} proposed to {what} until "
                f"{_at(end, zone)}, because {str(p['rationale']).rstrip('.')}."
            )
        elif e.kind == "dispatch.gated":
            reasons = "; ".join(f"{h['constraint']}: {h['reason']}" for h in p["constraints"])
            verb = {"accepted": "accepted it", "clamped": "clamped it", "rejected": "rejected it"}
            s = f"The safety gate {verb.get(str(p['outcome']), str(p['outcome']))}"
            if p.get("value") is not None and p["outcome"] != "rejected":
                s += f" at {_num(p['value'], unit)}"
            out.append(s + (f" ({reasons})." if reasons else "."))
        elif e.kind == "dispatch.simulated":
            s = (
                f"The twin predicted a feeder peak of {_num(p['peak_kw_plan'], 'kW')} with the "
                f"plan against {_num(p['peak_kw_baseline'], 'kW')} without it"
            )
            out.append(s + ("." if p["ok"] else f", and found violations: {p['summary']}."))
        elif e.kind == "dispatch.grid_validated":
            out.append(f"The power flow {'passed' if p['ok'] else 'failed'}: {p['summary']}.")
        elif e.kind == "dispatch.rejected":
            out.append(f"It was rejected: {p['reason']}.")
        elif e.kind == "dispatch.blocked":
            out.append(f"It was blocked: {p['reason']}.")
        elif e.kind == "approval.requested":
            out.append(
                f"It needed {p['requirement']} approval (proposed by "
                f"{p.get('proposed_by') or 'unknown'}), by "
                f"{_at(datetime.fromisoformat(str(p['expires_at'])), zone)}."
            )
        elif e.kind == "approval.auto":
            out.append(f"It was approved automatically: {p['reason']}.")
        elif e.kind == "approval.granted":
            out.append(f"{p['user']} approved it at {_at(e.ts, zone)}.")
        elif e.kind == "approval.rejected":
            out.append(f"{p['user']} refused it at {_at(e.ts, zone)}: {p['reason']}.")
        elif e.kind == "approval.expired":
            out.append(f"Nobody answered in time; it expired ({p['reason']}).")
        elif e.kind == "dispatch.sent":
            out.append(
                f"It was sent at {_at(e.ts, zone)} as {_num(p['value'], unit)} "
                f"(attempt {p['attempt']})."
            )
        elif e.kind == "dispatch.acked":
            out.append(f"The device acknowledged it, reading back {_num(p['readback_kw'], unit)}.")
        elif e.kind == "dispatch.verified":
            out.append(f"At {_at(e.ts, zone)} the device was verified at {_num(p['value'], unit)}.")
        elif e.kind == "dispatch.failed":
            out.append(f"Sending failed (attempt {p.get('attempt', 1)}): {p['reason']}.")
        elif e.kind in ("dispatch.expired", "dispatch.dead_lettered", "dispatch.superseded"):
            out.append(f"It ended {e.kind.split('.')[1].replace('_', ' ')}: {p['reason']}.")
        elif e.kind == "dispatch.reverted":
            out.append(
                f"{p['by']} reverted it to {_num(p['value'], unit)} at {_at(e.ts, zone)}: "
                f"{p['reason']}."
            )
    return " ".join(out) if out else "Nothing is recorded for this dispatch."

"""What a pending request is across decision cycles (issue #19 item 3).

A request for an asset stands while later cycles propose (nearly) the same plan: the same
kind of command and a value within ``tolerance_kw`` of what the request proposed, while
its own plan window still covers at least half of the fresh proposal's window. Each such
cycle is recorded on the request (``approval.reconfirmed``), so its page shows the history,
and its expiry and escalation keep meaning what they say: operators have until the expiry,
whatever the cycle length. A plan that moves beyond the tolerance supersedes the request,
naming its successor.

Pure rules here; the approval desk applies them (``ApprovalDesk.reconfirm``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TOLERANCE_MIN_KW = 10.0  # absolute floor: measurement noise and rounding in the forecast
TOLERANCE_FRACTION = 0.10  # of the pending proposal's magnitude


def tolerance_kw(pending_kw: float) -> float:
    return max(TOLERANCE_MIN_KW, TOLERANCE_FRACTION * abs(pending_kw))


@dataclass(frozen=True, slots=True)
class Match:
    dispatch_id: str
    pending_kw: float
    tolerance_kw: float


def standing(
    open_requests: Mapping[str, Mapping[str, Any]],
    asset: str,
    kind: str,
    proposed_kw: float,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Match | None:
    """The pending request a fresh proposal leaves standing, if any. ``open_requests``:
    dispatch id -> the request's proposed command body (asset, kind, value, start, end).
    A request whose own plan window would close before half of the fresh proposal's window
    has run does not stand: approving it would send a plan already (nearly) over. Pure."""
    for did, cmd in open_requests.items():
        if cmd.get("asset") != asset or cmd.get("kind") != kind:
            continue
        if start is not None and end is not None and cmd.get("end"):
            pending_end = datetime.fromisoformat(str(cmd["end"]))
            if pending_end < start + (end - start) / 2:
                continue
        pending_kw = float(cmd.get("value", 0.0))
        tol = tolerance_kw(pending_kw)
        # same direction (charge vs discharge) and close enough
        if (pending_kw >= 0) == (proposed_kw >= 0) and abs(proposed_kw - pending_kw) <= tol:
            return Match(did, pending_kw, tol)
    return None

"""Operator interventions on a dispatch that already happened: revert to its rollback point.

An operator asks with ``gridaios revert DISPATCH_ID`` (a ``dispatch.revert_requested``
event, from any process); the running conductor, which owns the connections, picks
the request up and sends the rollback value through the gate and the outbox under
the deterministic key ``DISPATCH_ID-revert`` (so a request is carried out once).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from runtime.conductor.outbox import Delivery
from runtime.core.errors import GridaiosError, NotFound
from runtime.log import events as ev
from runtime.log import records
from runtime.log.dispatch import DispatchRecord, State
from runtime.log.eventlog import EventLog
from safety import Command, Origin

if TYPE_CHECKING:
    from runtime.conductor.loop import Conductor


async def revert(c: Conductor, dispatch_id: str, *, by: str, reason: str) -> Delivery | None:
    """Put the asset back to the dispatch's rollback point, through the gate and outbox."""
    original: DispatchRecord | None = None
    for event in c.events.events(dispatch_id=dispatch_id, kinds=("dispatch.approved",)):
        p = event.payload
        original = DispatchRecord(
            dispatch_id=dispatch_id,
            state=State.APPROVED,
            asset=str(p["command"]["asset"]),
            value=float(p["value"]),
            rollback_kw=float(p["rollback_kw"]),
            command=dict(p["command"]),
        )
    revert_key = f"{dispatch_id}-revert"
    if original is None or c.events.has_dispatch(revert_key):
        return None  # never dispatched, or already reverted (or being reverted)
    now = c.clock()
    cmd = records.command_from(original.command)
    revert_cmd = Command(
        key=revert_key,
        asset=cmd.asset,
        kind=cmd.kind,
        value=original.rollback_kw,
        start=now,
        end=max(cmd.end, now + timedelta(minutes=1)),
        origin=Origin.OPERATOR,
    )
    snapshot = c.state.snapshot()
    c.events.append_event(
        ev.DispatchProposed(
            command=records.command_body(revert_cmd),
            policy="revert",
            rationale=(
                f"{by}: revert {dispatch_id} to {original.rollback_kw:g} {cmd.kind.unit}: {reason}"
            ),
            snapshot=records.snapshot_body(snapshot),
            rollback_kw=c.setpoints.get(cmd.asset, 0.0),
            last_setpoint_kw=c.setpoints.get(cmd.asset, 0.0),
            config_sha=c.config_sha,
        ),
        ts=now,
        dispatch_id=revert_cmd.key,
    )
    approved = c.gate(revert_cmd, snapshot, now)
    if approved is None:
        return None
    delivery = await c.send(approved, now)
    if delivery.state is State.VERIFIED:
        c.events.append_event(
            ev.DispatchReverted(
                asset=cmd.asset,
                value=approved.value,
                revert_key=revert_cmd.key,
                by=by,
                reason=reason,
            ),
            ts=c.clock(),
            dispatch_id=dispatch_id,
        )
        c._refresh()
    return delivery


def requested(log: EventLog, after_seq: int) -> list[tuple[int, str, str, str]]:
    """(seq, dispatch_id, user, reason) of revert requests newer than ``after_seq``."""
    return [
        (e.seq, str(e.dispatch_id), str(e.payload["user"]), str(e.payload["reason"]))
        for e in log.events(kinds=("dispatch.revert_requested",), after_seq=after_seq)
    ]


def request(log: EventLog, dispatch_id: str, user: str, reason: str, now: datetime) -> None:
    """Ask the running conductor to revert a verified dispatch (refused otherwise)."""
    kinds = [e.kind for e in log.events(dispatch_id=dispatch_id)]
    if not kinds:
        raise NotFound(f"no dispatch {dispatch_id}; see `gridaios audit show`")
    if "dispatch.verified" not in kinds:
        raise InterventionError(
            f"dispatch {dispatch_id} was never verified on the device (last: {kinds[-1]}); "
            "there is nothing to revert"
        )
    if "dispatch.reverted" in kinds or log.has_dispatch(f"{dispatch_id}-revert"):
        raise InterventionError(f"dispatch {dispatch_id} is already reverted or being reverted")
    if not reason:
        raise InterventionError("a revert needs a reason (--reason)")
    log.append_event(
        ev.DispatchRevertRequested(user=user, reason=reason), ts=now, dispatch_id=dispatch_id
    )


class InterventionError(GridaiosError):
    """The intervention is not allowed in the dispatch's current state."""

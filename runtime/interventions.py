"""Operator interventions on a dispatch that already happened: revert to its rollback point."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from runtime import events as ev
from runtime import records
from runtime.dispatch import DispatchRecord, State
from runtime.outbox import Delivery
from safety import Command

if TYPE_CHECKING:
    from runtime.conductor import Conductor


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
    if original is None:
        return None
    now = c.clock()
    cmd = records.command_from(original.command)
    revert_cmd = Command(
        key=f"{dispatch_id}-revert",
        asset=cmd.asset,
        kind=cmd.kind,
        value=original.rollback_kw,
        start=now,
        end=max(cmd.end, now + timedelta(minutes=1)),
        origin=cmd.origin,
    )
    snapshot = c.state.snapshot()
    c.events.append_event(
        ev.DispatchProposed(
            command=records.command_body(revert_cmd),
            policy="revert",
            rationale=f"{by}: revert {dispatch_id} to {original.rollback_kw:g} kW: {reason}",
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

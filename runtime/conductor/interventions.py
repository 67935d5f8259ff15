"""Operator interventions on a dispatch that already happened: revert to its rollback point.

An operator asks with ``gridaios revert DISPATCH_ID`` (a ``dispatch.revert_requested``
event, from any process); the running conductor, which owns the connections, picks
the request up and sends the rollback value through the gate and the outbox under
the deterministic key ``DISPATCH_ID-revert`` (so a request is carried out once).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runtime.conductor.outbox import Delivery
from runtime.core.clock import Clock
from runtime.core.errors import GridaiosError, NotFound
from runtime.log import events as ev
from runtime.log import records
from runtime.log.dispatch import State
from runtime.log.eventlog import EventLog
from safety import ApprovedCommand, Command, Origin, StateSnapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class RevertPlan:
    """What a revert sends: the rollback value under the deterministic revert key."""

    dispatch_id: str
    command: Command
    rollback_kw: float

    def proposed(
        self, snapshot: StateSnapshot, *, by: str, reason: str, setpoint_kw: float, config_sha: str
    ) -> ev.DispatchProposed:
        cmd = self.command
        return ev.DispatchProposed(
            command=records.command_body(cmd),
            policy="revert",
            rationale=(
                f"{by}: revert {self.dispatch_id} to {self.rollback_kw:g} {cmd.kind.unit}: {reason}"
            ),
            snapshot=records.snapshot_body(snapshot),
            rollback_kw=setpoint_kw,
            last_setpoint_kw=setpoint_kw,
            config_sha=config_sha,
        )


def plan_revert(log: EventLog, dispatch_id: str, now: datetime) -> RevertPlan | None:
    """The command that puts the asset back to the dispatch's rollback point; None when it
    was never dispatched, or is already reverted (or being reverted)."""
    original: dict[str, Any] | None = None
    for event in log.events(dispatch_id=dispatch_id, kinds=("dispatch.approved",)):
        original = dict(event.payload)
    revert_key = f"{dispatch_id}-revert"
    if original is None or log.has_dispatch(revert_key):
        return None
    cmd = records.command_from(original["command"])
    rollback_kw = float(original["rollback_kw"])
    return RevertPlan(
        dispatch_id=dispatch_id,
        rollback_kw=rollback_kw,
        command=Command(
            key=revert_key,
            asset=cmd.asset,
            kind=cmd.kind,
            value=rollback_kw,
            start=now,
            end=max(cmd.end, now + timedelta(minutes=1)),
            origin=Origin.OPERATOR,
        ),
    )


class Reverts:
    """The running conductor's side: carries out revert requests through the gate (alone:
    a rollback point was dispatched before) and the outbox, each once."""

    def __init__(
        self,
        events: EventLog,
        clock: Clock,
        *,
        snapshot: Callable[[], StateSnapshot],
        setpoints: Callable[[], Mapping[str, float]],
        config_sha: str,
        gate: Callable[[Command, StateSnapshot, datetime], ApprovedCommand | None],
        send: Callable[[ApprovedCommand, datetime], Awaitable[Delivery]],
        refresh: Callable[[], None],
    ) -> None:
        self.events = events
        self.clock = clock
        self.snapshot = snapshot
        self.setpoints = setpoints
        self.config_sha = config_sha
        self.gate = gate
        self.send = send
        self.refresh = refresh
        self.seq = 0  # revert requests up to here are handled

    async def requested(self) -> list[Delivery]:
        out: list[Delivery] = []
        for seq, did, user, reason in requested(self.events, self.seq):
            self.seq = seq
            delivery = await self.revert(did, by=user, reason=reason)
            if delivery is not None:
                out.append(delivery)
        return out

    async def revert(self, dispatch_id: str, *, by: str, reason: str) -> Delivery | None:
        now = self.clock()
        plan = plan_revert(self.events, dispatch_id, now)
        if plan is None:
            return None  # never dispatched, or already reverted (or being reverted)
        snapshot = self.snapshot()
        asset = plan.command.asset
        self.events.append_event(
            plan.proposed(
                snapshot,
                by=by,
                reason=reason,
                setpoint_kw=self.setpoints().get(asset, 0.0),
                config_sha=self.config_sha,
            ),
            ts=now,
            dispatch_id=plan.command.key,
        )
        approved = self.gate(plan.command, snapshot, now)
        if approved is None:
            return None
        delivery = await self.send(approved, now)
        if delivery.state is State.VERIFIED:
            self.events.append_event(
                ev.DispatchReverted(
                    asset=asset,
                    value=approved.value,
                    revert_key=plan.command.key,
                    by=by,
                    reason=reason,
                ),
                ts=self.clock(),
                dispatch_id=dispatch_id,
            )
            self.refresh()
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

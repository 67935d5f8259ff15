"""The outbox against an emulated device (a function that keeps a ledger)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors import ConnectorNotReady, WriteExpired
from runtime.conductor.outbox import Outbox
from runtime.core.clock import FixedClock
from runtime.log.deadletter import DeadLetterStore
from runtime.log.dispatch import Projections, State
from runtime.log.eventlog import EventLog
from runtime.service.jobs import RetryPolicy
from safety import (
    ApprovedCommand,
    AssetLimits,
    Command,
    CommandKind,
    Envelope,
    Origin,
    Quality,
    Range,
    Reading,
    StateSnapshot,
    evaluate,
)

T0 = datetime(2026, 7, 15, 17, 0, tzinfo=UTC)
ENVELOPE = Envelope(
    assets={
        "bat1": AssetLimits(
            asset="bat1",
            ranges={CommandKind.ACTIVE_POWER_KW: Range(min_value=-250, max_value=250)},
            required_points=("bat1.p_kw",),
        )
    },
    max_age=timedelta(minutes=5),
)
STATE = StateSnapshot(
    readings={"bat1.p_kw": Reading(point="bat1.p_kw", value=0.0, ts=T0, quality=Quality.GOOD)}
)


@dataclass(frozen=True)
class Result:
    applied_key: str
    readback_value: float
    verified: bool


@dataclass
class Device:
    fail_first: int = 0
    writes: list[str] = field(default_factory=list)
    ledger: list[tuple[str, float]] = field(default_factory=list)

    async def write(self, approved: ApprovedCommand, source: str) -> Result:
        self.writes.append(approved.key)
        if len(self.writes) <= self.fail_first:
            raise ConnectorNotReady(f"{source} unreachable")
        if not self.ledger or self.ledger[-1][0] != approved.key:
            self.ledger.append((approved.key, approved.value))
        return Result(approved.key, approved.value, True)


def approve(key: str, value: float, minutes: int = 15) -> ApprovedCommand:
    cmd = Command(
        key=key,
        asset="bat1",
        kind=CommandKind.ACTIVE_POWER_KW,
        value=value,
        start=T0,
        end=T0 + timedelta(minutes=minutes),
        origin=Origin.AGENT,
    )
    (verdict,) = evaluate([cmd], STATE, ENVELOPE, T0)
    assert verdict.outcome != "rejected"
    return verdict.approved  # type: ignore[union-attr]


async def no_sleep(_: float) -> None:
    return None


def outbox(tmp_path: Path, device: Device, **kw: object) -> tuple[Outbox, EventLog]:
    log = EventLog(tmp_path / "e.db")
    box = Outbox(log, device.write, FixedClock(T0), rng=random.Random(1), sleep=no_sleep, **kw)
    return box, log


def kinds(log: EventLog, did: str) -> list[str]:
    return [e.kind for e in log.events(dispatch_id=did)]


def record_approved(log: EventLog, key: str, value: float) -> None:
    """What a run that died right after the durable record leaves in the log."""
    from runtime.conductor.outbox import command_body
    from runtime.log import events as ev

    body = command_body(approve(key, value))
    for event in (
        ev.DispatchProposed(
            command=body,
            policy="p",
            rationale="r",
            snapshot={},
            rollback_kw=0.0,
            last_setpoint_kw=0.0,
        ),
        ev.DispatchGated(outcome="accepted", value=value, constraints=[]),
        ev.DispatchApproved(command=body, value=value, source="field", rollback_kw=0.0),
    ):
        log.append_event(event, ts=T0, dispatch_id=key)


def test_durable_before_send_then_verified(tmp_path: Path) -> None:
    device = Device()
    box, log = outbox(tmp_path, device)
    delivery = asyncio.run(box.submit(approve("k1", 80.0), "field", 0.0))
    assert delivery.state is State.VERIFIED
    assert kinds(log, "k1") == [
        "dispatch.approved",
        "dispatch.sent",
        "dispatch.acked",
        "dispatch.verified",
    ]
    assert device.ledger == [("k1", 80.0)]


def test_retries_use_the_same_key_then_dead_letter(tmp_path: Path) -> None:
    device = Device(fail_first=10)
    dlq = DeadLetterStore(tmp_path / "dlq.db")
    box, log = outbox(tmp_path, device, retry=RetryPolicy(max_attempts=3), dlq=dlq)
    delivery = asyncio.run(box.submit(approve("k1", 80.0), "field", 0.0))
    assert delivery.state is State.DEAD_LETTERED and delivery.attempts == 3
    assert device.writes == ["k1", "k1", "k1"]
    (entry,) = dlq.list()
    assert entry.kind == "dispatch" and b"k1" in entry.payload and "unreachable" in entry.reason
    assert kinds(log, "k1")[-1] == "dispatch.dead_lettered"


def test_a_transient_failure_is_retried_and_applied_once(tmp_path: Path) -> None:
    device = Device(fail_first=2)
    box, log = outbox(tmp_path, device)
    delivery = asyncio.run(box.submit(approve("k1", 80.0), "field", 0.0))
    assert delivery.state is State.VERIFIED and delivery.attempts == 3
    assert device.ledger == [("k1", 80.0)]
    assert kinds(log, "k1").count("dispatch.retried") == 2


def test_resume_resends_the_newest_in_flight_command_with_its_key(tmp_path: Path) -> None:
    device = Device()
    box, log = outbox(tmp_path, device)
    for key, value in (("k1", 50.0), ("k2", 60.0)):  # approved, then the runtime "died"
        record_approved(log, key, value)

    def regate(record, now):  # type: ignore[no-untyped-def]
        return approve(record.dispatch_id, float(record.value))

    out = asyncio.run(box.resume(Projections.load(log), regate))
    assert {d.dispatch_id: d.state for d in out} == {"k1": State.EXPIRED, "k2": State.VERIFIED}
    assert device.writes == ["k2"]  # the older key is never sent after the newer one
    assert "dispatch.resumed" in kinds(log, "k2")


def test_resume_does_not_send_when_the_recheck_changes_the_value(tmp_path: Path) -> None:
    device = Device()
    box, log = outbox(tmp_path, device)
    record_approved(log, "k1", 50.0)
    out = asyncio.run(box.resume(Projections.load(log), lambda r, now: approve("k1", 40.0)))
    assert out[0].state is State.EXPIRED
    assert device.writes == []


def test_an_expired_command_is_not_sent(tmp_path: Path) -> None:
    device = Device()
    log = EventLog(tmp_path / "e.db")
    clock = FixedClock(T0 + timedelta(hours=1))
    box = Outbox(log, device.write, clock, sleep=no_sleep)
    delivery = asyncio.run(box.submit(approve("k1", 80.0), "field", 0.0))
    assert delivery.state is State.EXPIRED and device.writes == []


def test_an_operator_retry_from_the_dlq_resends_the_same_key(tmp_path: Path) -> None:
    device = Device(fail_first=2)
    dlq = DeadLetterStore(tmp_path / "dlq.db")
    box, log = outbox(tmp_path, device, retry=RetryPolicy(max_attempts=2), dlq=dlq)
    record_approved(log, "k1", 80.0)
    approved = approve("k1", 80.0)
    first = asyncio.run(box.deliver(approved, "field", 0.0, first_attempt=1))
    assert first.state is State.DEAD_LETTERED
    projections = Projections.load(log)
    record = projections.open["k1"]
    assert record.state is State.DEAD_LETTERED and not projections.in_flight()

    again = asyncio.run(box.retry_dead(record, projections, lambda r, now: approve("k1", 80.0)))
    assert again.state is State.VERIFIED and again.attempts == 3
    assert device.writes == ["k1", "k1", "k1"] and device.ledger == [("k1", 80.0)]
    assert "k1" not in Projections.load(log).open


def test_a_dlq_retry_is_refused_after_a_newer_command_went_out(tmp_path: Path) -> None:
    device = Device(fail_first=2)
    box, log = outbox(tmp_path, device, retry=RetryPolicy(max_attempts=2))
    record_approved(log, "k1", 80.0)
    asyncio.run(box.deliver(approve("k1", 80.0), "field", 0.0, first_attempt=1))
    record_approved(log, "k2", 40.0)
    asyncio.run(box.deliver(approve("k2", 40.0), "field", 0.0, first_attempt=1))
    projections = Projections.load(log)
    out = asyncio.run(
        box.retry_dead(projections.open["k1"], projections, lambda r, now: approve("k1", 80.0))
    )
    assert out.state is State.EXPIRED and "k2" in out.reason
    assert device.ledger == [("k2", 40.0)]


@dataclass
class SlowDevice(Device):
    """Confirms the key only on the second write of it; may run another value."""

    runs_kw: float | None = None

    async def write(self, approved: ApprovedCommand, source: str) -> Result:
        self.writes.append(approved.key)
        if self.writes.count(approved.key) < 2:
            return Result("", 0.0, False)  # not scanned yet
        value = approved.value if self.runs_kw is None else self.runs_kw
        if not self.ledger or self.ledger[-1][0] != approved.key:
            self.ledger.append((approved.key, value))
        return Result(approved.key, value, value == approved.value)


def test_an_unconfirmed_key_is_resent_not_given_up(tmp_path: Path) -> None:
    device = SlowDevice()
    box, log = outbox(tmp_path, device)
    delivery = asyncio.run(box.submit(approve("k1", 80.0), "field", 0.0))
    assert delivery.state is State.VERIFIED and device.writes == ["k1", "k1"]
    (failed,) = log.events(kinds=("dispatch.failed",))
    assert "has not confirmed key" in str(failed.payload["reason"])
    assert device.ledger == [("k1", 80.0)]


def test_a_device_running_another_value_is_dead_lettered_for_a_human(tmp_path: Path) -> None:
    device = SlowDevice(runs_kw=50.0)
    dlq = DeadLetterStore(tmp_path / "dlq.db")
    box, log = outbox(tmp_path, device, dlq=dlq)
    delivery = asyncio.run(box.submit(approve("k1", 80.0), "field", 0.0))
    assert delivery.state is State.DEAD_LETTERED and delivery.reason.startswith("read-back 50")
    assert kinds(log, "k1")[-3:] == ["dispatch.acked", "dispatch.failed", "dispatch.dead_lettered"]
    assert "read-back 50" in dlq.list()[0].reason
    assert "k1" not in [r.dispatch_id for r in Projections.load(log).in_flight()]


def test_a_device_that_answers_expired_ends_the_dispatch_without_a_resend(
    tmp_path: Path,
) -> None:
    """Its clock says the window is over while ours does not: expired, not retried."""
    writes: list[str] = []

    async def expired(approved: ApprovedCommand, source: str) -> Result:
        writes.append(approved.key)
        raise WriteExpired(f"{source}: bat1 answered expired: valid_until passed 3.000 s ago")

    dlq = DeadLetterStore(tmp_path / "dlq.db")
    log = EventLog(tmp_path / "e.db")
    box = Outbox(log, expired, FixedClock(T0), dlq=dlq, sleep=no_sleep)
    delivery = asyncio.run(box.submit(approve("k1", 80.0), "field", 0.0))
    assert delivery.state is State.EXPIRED and delivery.attempts == 1 and writes == ["k1"]
    assert kinds(log, "k1") == ["dispatch.approved", "dispatch.sent", "dispatch.expired"]
    (event,) = log.events(kinds=("dispatch.expired",))
    assert "valid_until passed 3.000 s ago; not sent again" in str(event.payload["reason"])
    assert dlq.list() == [] and box.breakers("connector:field").failures == 0

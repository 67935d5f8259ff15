"""The conductor against an emulated battery on a real OPC UA server: dispatch, revert."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.cli import main as gridaios
from runtime.conductor.loop import Conductor
from runtime.config.model import parse_config
from runtime.core.clock import WallClock
from runtime.log.deadletter import DeadLetterStore
from runtime.log.dispatch import Projections, State
from runtime.log.eventlog import EventLog
from tests.support.crash import SITE_YAML, free_port
from tests.support.ledger_device import LedgerDevice

pytestmark = pytest.mark.integration


@pytest.fixture
def device() -> Iterator[LedgerDevice]:
    d = LedgerDevice(f"opc.tcp://127.0.0.1:{free_port()}/t", seed=3)
    d.start()
    yield d
    d.stop()


def test_dispatch_then_revert_to_the_rollback_point(device: LedgerDevice, tmp_path: Path) -> None:
    from datetime import timedelta

    from runtime.log import events as ev

    config = parse_config(SITE_YAML.format(endpoint=device.endpoint))
    log = EventLog(tmp_path / "events.db")
    now = WallClock()()
    orphan = ev.CommandBody(
        key="orphan",
        asset="bat1",
        kind="active_power_kw",
        value=99.0,
        start=now,
        end=now + timedelta(minutes=5),
        origin="agent",
    )  # a previous run died between proposal and approval
    log.append_event(
        ev.DispatchProposed(
            command=orphan,
            policy="peak_shaving",
            rationale="r",
            snapshot={},
            rollback_kw=0.0,
            last_setpoint_kw=0.0,
        ),
        ts=now,
        dispatch_id="orphan",
    )

    async def main() -> None:
        conductor = Conductor(
            config, log, WallClock(), auto_approve=True, dlq=DeadLetterStore(tmp_path / "d.db")
        )
        await conductor.connect()
        try:
            assert [e.kind for e in log.events(dispatch_id="orphan")][-1] == "dispatch.expired"
            await conductor.cycle(conductor.clock())
            (did,) = conductor.dispatch_ids
            assert conductor.setpoints["bat1"] > 0
            # the operator asks from another process; the running conductor carries it out
            args = ["revert", did, "--user", "alice", "--reason", "customer complaint"]
            assert gridaios([*args, "--db", str(tmp_path / "events.db")]) == 0
            (delivery,) = await conductor.revert_requested()
            assert delivery.state is State.VERIFIED
            assert conductor.setpoints["bat1"] == 0.0
            assert await conductor.revert_requested() == []  # carried out once
            assert gridaios([*args, "--db", str(tmp_path / "events.db")]) == 1  # already reverted
        finally:
            await conductor.close()

    asyncio.run(main())
    ledger, _ = device.snapshot()
    did = ledger[0].key
    assert [(a.key, a.value_kw) for a in ledger][1] == (f"{did}-revert", 0.0)
    kinds = [e.kind for e in log.events(dispatch_id=did)]
    assert kinds[-1] == "dispatch.reverted"
    assert Projections.load(log).setpoints == {"bat1": 0.0}
    assert log.verify() is None


def test_operator_approval_survives_a_restart_and_then_dispatches(
    device: LedgerDevice, tmp_path: Path
) -> None:
    from runtime.approvals import book as approvals

    text = SITE_YAML.format(endpoint=device.endpoint).replace(
        "auto_approve_max_kw: 1000", "auto_approve_max_kw: 10"
    )
    config = parse_config(text)
    log = EventLog(tmp_path / "events.db")

    async def propose() -> str:
        conductor = Conductor(config, log, WallClock())
        await conductor.connect()
        try:
            await conductor.cycle(conductor.clock())
            (did,) = conductor.dispatch_ids
            await conductor.check_approvals(conductor.clock())
            return did
        finally:
            await conductor.close()

    did = asyncio.run(propose())
    assert device.snapshot()[0] == []  # nothing reached the device without a human
    (request,) = approvals.pending(log)
    assert request.dispatch_id == did and request.requirement.value == "one_operator"
    approvals.approve(
        log, did, "alice", "checked the feeder", WallClock()(), plan_hash=request.plan_hash
    )

    async def restart_and_decide() -> Conductor:
        conductor = Conductor(config, log, WallClock())
        await conductor.connect()  # the request is restored from the projection
        try:
            await conductor.check_approvals(conductor.clock())
            return conductor
        finally:
            await conductor.close()

    conductor = asyncio.run(restart_and_decide())
    assert conductor.counts["verified"] == 1
    ledger, _ = device.snapshot()
    assert [a.key for a in ledger] == [did]
    kinds = [e.kind for e in log.events(dispatch_id=did)]
    assert kinds[kinds.index("approval.granted") :] == [
        "approval.granted",
        "dispatch.gated",  # re-gated and
        "dispatch.simulated",  # re-validated against fresh state at approval time
        "dispatch.approved",
        "dispatch.sent",
        "dispatch.acked",
        "dispatch.verified",
    ]
    assert approvals.pending(log) == []

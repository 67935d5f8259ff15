"""The walking skeleton against a real asyncua server: one dispatch, end to end."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runtime.conductor.loop import Conductor
from runtime.config import site
from runtime.config.load import load_config
from runtime.config.model import SiteConfig
from runtime.core.clock import FixedClock
from runtime.demo.feeder import SCENARIO_DIR, free_port, with_endpoint
from runtime.log.eventlog import EventLog
from simulator import VirtualField, load_scenario

REPO = Path(__file__).resolve().parents[2]
PEAK = datetime(2026, 7, 15, 18, 45, tzinfo=UTC)

pytestmark = pytest.mark.integration


@dataclass
class Rig:
    config: SiteConfig
    clock: FixedClock
    field: VirtualField
    conductor: Conductor
    events: EventLog
    db: Path


async def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def rig(
    tmp_path: Path,
    *,
    at: datetime = PEAK,
    adapt: Callable[[SiteConfig], SiteConfig] | None = None,
    **overrides: object,
) -> AsyncIterator[Rig]:
    """The demo feeder's virtual field on a real OPC UA server, and a conductor connected to it."""
    config = load_config(REPO / "configs" / "demo-feeder.yaml")
    if adapt is not None:
        config = adapt(config)
    if overrides:
        approvals = config.approvals.model_copy(update=overrides)
        config = config.model_copy(update={"approvals": approvals})
    config = with_endpoint(config, f"opc.tcp://127.0.0.1:{free_port()}/gridaios/field")
    scenario = load_scenario("evening-peak", SCENARIO_DIR)
    clock = FixedClock(at)
    field = VirtualField(site.field_spec(config), scenario, clock, config.sources[0].endpoint)
    db = tmp_path / "events.db"
    events = EventLog(db)
    conductor = Conductor(config, events, clock)
    await field.start()
    field_task = asyncio.create_task(field.run(until=at + timedelta(days=1)))
    try:
        await conductor.connect()
        meter = site.point_id("substation", "p_kw")
        soc = site.point_id("bat1", "soc_pct")
        await wait_for(
            lambda: all(conductor.state.snapshot().get(p) for p in (meter, soc)), "telemetry"
        )
        yield Rig(config, clock, field, conductor, events, db)
    finally:
        field_task.cancel()
        await conductor.close()
        await field.stop()
        events.close()


def fresh(r: Rig, point: str) -> bool:
    """The conductor holds a value of ``point`` stamped at the clock's current time."""
    reading = r.conductor.state.snapshot().get(point)
    return reading is not None and reading.ts >= r.clock()


def in_order(actual: list[str], expected: list[str]) -> bool:
    """``expected`` appears in ``actual`` in this order (other events may come between)."""
    remaining = iter(actual)
    return all(kind in remaining for kind in expected)


def kinds(events: EventLog, dispatch_id: str) -> list[str]:
    return [e.kind for e in events.events(dispatch_id=dispatch_id)]


def expected_setpoint_kw(r: Rig) -> float:
    snapshot = r.conductor.state.snapshot()
    meter = snapshot.get("substation.p_kw")
    battery = snapshot.get("bat1.p_kw")
    assert meter is not None and battery is not None
    return float(round(meter.value + battery.value - 1100))


async def test_one_dispatch_reaches_the_battery_exactly_once(tmp_path: Path) -> None:
    async with rig(tmp_path, auto_approve_max_kw=400, two_person_min_kw=400) as r:
        target = expected_setpoint_kw(r)
        assert 200 < target <= 250, "the scenario must put the feeder well above threshold"
        await r.conductor.cycle(r.clock())

        (dispatch_id,) = r.conductor.dispatch_ids
        # From rest, the battery's 200 kW/min ramp limit clamps the first setpoint.
        gated = next(r.events.events(dispatch_id=dispatch_id, kinds=("dispatch.gated",)))
        assert gated.payload["outcome"] == "clamped"
        ledger = r.field.ledger("bat1")
        assert [(c.key, c.value) for c in ledger] == [(dispatch_id, 200.0)]
        chain = kinds(r.events, dispatch_id)
        assert in_order(
            chain,
            [
                "dispatch.proposed",
                "dispatch.gated",
                "dispatch.simulated",
                "dispatch.grid_validated",  # the power flow on the feeder's network
                "approval.auto",
                "dispatch.sent",
                "dispatch.acked",
                "dispatch.verified",
            ],
        ), chain
        assert not {"dispatch.rejected", "dispatch.blocked", "dispatch.failed"} & set(chain)
        # The device ramps toward the setpoint it received.
        r.clock.advance(timedelta(minutes=1))
        await wait_for(lambda: r.field.batteries["bat1"].p_kw > 0, "battery discharging")
        # Next cycles: the rest of the step once the ramp allows it, then nothing new.
        for _ in range(3):
            r.clock.advance(timedelta(minutes=1))
            await wait_for(lambda: fresh(r, "bat1.p_kw"), "battery telemetry at the new time")
            await r.conductor.cycle(r.clock())
        proposals = len(r.conductor.dispatch_ids)
        await r.conductor.cycle(r.clock())  # same instant, same state: nothing to send
        assert len(r.conductor.dispatch_ids) == proposals
        ledger = r.field.ledger("bat1")
        assert ledger[-1].value > 200.0, "the later cycles completed the step past the ramp clamp"
        sent = [e.dispatch_id for e in r.events.events(kinds=("dispatch.sent",))]
        assert [c.key for c in ledger] == sent
        assert len(set(sent)) == len(sent) <= 4
        assert r.events.verify() is None


async def test_resending_the_same_key_is_not_applied_twice(tmp_path: Path) -> None:
    async with rig(tmp_path, auto_approve_max_kw=400, two_person_min_kw=400) as r:
        await r.conductor.cycle(r.clock())
        (dispatch_id,) = r.conductor.dispatch_ids
        (approved,) = [
            e for e in r.events.events(dispatch_id=dispatch_id) if e.kind == "dispatch.sent"
        ]
        # Re-run the gate and re-send the very same command (as a retry after a crash would).
        from safety import Accepted, Clamped, Command, CommandKind, Origin, evaluate

        proposed = next(r.events.events(dispatch_id=dispatch_id, kinds=("dispatch.proposed",)))
        c = proposed.payload["command"]
        command = Command(
            key=c["key"],
            asset=c["asset"],
            kind=CommandKind(c["kind"]),
            value=c["value"],
            start=datetime.fromisoformat(c["start"]),
            end=datetime.fromisoformat(c["end"]),
            origin=Origin(c["origin"]),
        )
        (verdict,) = evaluate(
            [command], r.conductor.state.snapshot(), r.conductor.envelope, r.clock()
        )
        assert isinstance(verdict, Accepted | Clamped)
        result = await r.conductor.send(verdict.approved, r.clock())
        assert result.dispatch_id == dispatch_id
        assert len(r.field.ledger("bat1")) == 1
        assert approved.payload["value"] == r.field.ledger("bat1")[0].value


async def test_above_threshold_waits_for_two_operators_via_cli(tmp_path: Path) -> None:
    async with rig(tmp_path, auto_approve_max_kw=50, two_person_min_kw=60) as r:
        await r.conductor.cycle(r.clock())
        (dispatch_id,) = r.conductor.dispatch_ids
        assert kinds(r.events, dispatch_id)[-1] == "approval.requested"
        assert r.field.ledger("bat1") == []

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "runtime.cli", "approvals", "--db", str(r.db), *args],
                capture_output=True,
                text=True,
                check=False,
            )

        from datetime import UTC as _UTC
        from datetime import datetime as _dt

        from runtime.api.auth import UserStore

        store = UserStore(r.db.parent / "users.db")  # local grants come from proven operators
        token = {}
        for name in ("alice", "bob"):
            store.add(name, "correct horse", "operator", _dt.now(_UTC))
            token[name] = store.issue(name, "api", _dt.now(_UTC), None).token
        store.close()
        listed = await asyncio.to_thread(cli, "list")
        assert dispatch_id in listed.stdout and "needs two operators" in listed.stdout
        alice = ("--user", "alice", "--token", token["alice"])
        first = await asyncio.to_thread(cli, "approve", dispatch_id, *alice)
        assert first.returncode == 0, first.stderr
        again = await asyncio.to_thread(cli, "approve", dispatch_id, *alice)
        assert again.returncode == 1 and "another operator" in again.stderr

        await r.conductor.check_approvals(r.clock())
        assert r.field.ledger("bat1") == [], "one approval is not enough above two_person_min_kw"

        second = await asyncio.to_thread(cli, "approve", dispatch_id, "--token", token["bob"])
        assert second.returncode == 0, second.stderr
        await r.conductor.check_approvals(r.clock())
        assert [c.key for c in r.field.ledger("bat1")] == [dispatch_id]
        chain = kinds(r.events, dispatch_id)
        last_grant = len(chain) - 1 - chain[::-1].index("approval.granted")
        assert in_order(
            chain[last_grant:],
            [
                "approval.granted",
                "dispatch.gated",  # re-checked against fresh state at approval time
                "dispatch.sent",
                "dispatch.acked",
                "dispatch.verified",
            ],
        ), chain


async def test_operator_rejection_keeps_the_device_untouched(tmp_path: Path) -> None:
    async with rig(tmp_path, auto_approve_max_kw=50, two_person_min_kw=400) as r:
        await r.conductor.cycle(r.clock())
        (dispatch_id,) = r.conductor.dispatch_ids
        from runtime.approvals import book as approvals

        approvals.reject(r.events, dispatch_id, "carol", "crew on site", r.clock())
        await r.conductor.check_approvals(r.clock())
        assert r.field.ledger("bat1") == []
        assert kinds(r.events, dispatch_id)[-1] == "approval.rejected"


async def test_expired_approval_never_dispatches(tmp_path: Path) -> None:
    async with rig(tmp_path, auto_approve_max_kw=50, two_person_min_kw=400) as r:
        await r.conductor.cycle(r.clock())
        (dispatch_id,) = r.conductor.dispatch_ids
        r.clock.advance(timedelta(seconds=r.config.approvals.expiry_s + 1))
        await r.conductor.check_approvals(r.clock())
        from runtime.approvals import book as approvals

        with pytest.raises(Exception, match="not awaiting approval"):
            approvals.approve(r.events, dispatch_id, "dave", "", r.clock())
        assert r.field.ledger("bat1") == []
        assert kinds(r.events, dispatch_id)[-1] == "approval.expired"


async def test_stale_telemetry_is_rejected_by_the_gate(tmp_path: Path) -> None:
    async with rig(tmp_path, auto_approve_max_kw=400, two_person_min_kw=400) as r:
        await r.field.stop()  # the field goes silent: no fresh values any more
        r.clock.advance(timedelta(seconds=r.config.safety.max_age_s + 60))
        await r.conductor.cycle(r.clock())
        (dispatch_id,) = r.conductor.dispatch_ids
        assert kinds(r.events, dispatch_id)[-1] == "dispatch.rejected"
        gated = next(r.events.events(dispatch_id=dispatch_id, kinds=("dispatch.gated",)))
        assert {c["constraint"] for c in gated.payload["constraints"]} == {"state.stale"}
        assert r.field.ledger("bat1") == []


async def test_stale_approval_cannot_dispatch(tmp_path: Path) -> None:
    async with rig(tmp_path, auto_approve_max_kw=50, two_person_min_kw=400) as r:
        await r.conductor.cycle(r.clock())
        (dispatch_id,) = r.conductor.dispatch_ids
        from runtime.approvals import book as approvals

        await r.field.stop()
        r.clock.advance(timedelta(seconds=r.config.safety.max_age_s + 10))
        plan = approvals.find_pending(r.events, dispatch_id).plan_hash
        approvals.approve(r.events, dispatch_id, "erin", "ok", r.clock(), plan_hash=plan)
        await r.conductor.check_approvals(r.clock())
        assert r.field.ledger("bat1") == []
        assert kinds(r.events, dispatch_id)[-2:] == ["dispatch.gated", "dispatch.rejected"]

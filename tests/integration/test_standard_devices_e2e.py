"""End to end through the gate and the outbox, on devices nobody here wrote: a node-opcua
battery with only a Float setpoint and report-on-change values (no gridaios nodes), and a
node-opcua meter; each device killed mid-run and at start while the site keeps running."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.conductor.loop import Conductor
from runtime.config.model import parse_config
from runtime.core.clock import WallClock
from runtime.log.deadletter import DeadLetterStore
from runtime.log.eventlog import EventLog
from tests.support.nodedevice import NodeDevice
from tests.support.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SITE = """
site: {{id: std, name: standard devices}}
feeder: {{meter: substation, transformer_rating_kw: 5000}}
sources:
  - {{id: bess, type: opcua, endpoint: "{bess}", allow_insecure: true,
     publishing_interval_ms: 50, freshness: link, keepalive_s: 0.5,
     reconnect_min_s: 0.2, reconnect_max_s: 1}}
  - {{id: meter, type: opcua, endpoint: "{meter}", allow_insecure: true,
     publishing_interval_ms: 50, freshness: link, keepalive_s: 0.5,
     reconnect_min_s: 0.2, reconnect_max_s: 1}}
assets:
  - id: substation
    type: meter
    points:
      p_kw: {{source: meter, node: "ns=1;s=Meter.ActivePower", unit: kW}}
  - id: bat1
    type: battery
    capacity_kwh: 500
    max_charge_kw: 250
    max_discharge_kw: 250
    soc_min_pct: 5
    soc_max_pct: 95
    points:
      soc_pct: {{source: bess, node: "/Objects/1:BESS1/1:StateOfCharge", unit: "%"}}
      p_kw: {{source: bess, node: "ns=1;s=BESS1.ActivePower", unit: kW}}
      p_setpoint_kw: {{source: bess, node: "ns=1;s=BESS1.ActivePowerSetpoint", unit: kW,
                      writable: true}}
policy:
  peak_shaving: {{battery: bat1, threshold_kw: 1100, cadence_s: 1, deadband_kw: 5,
                 command_duration_s: 3600}}
approvals: {{auto_approve_max_kw: 1000, two_person_min_kw: 1000, expiry_s: 900}}
safety: {{max_age_s: 3, policies: {{limit.max: clamp, limit.min: clamp, soc.window: clamp}}}}
"""


@pytest.fixture
def devices() -> Iterator[tuple[NodeDevice, NodeDevice]]:
    bess = NodeDevice("battery")
    meter = NodeDevice("meter", args=("--meter-kw", "1500"))
    try:
        yield bess, meter
    finally:
        bess.stop()
        meter.stop()


def _health_events(log: EventLog, source: str) -> list[str]:
    return [
        e.payload["state"]
        for e in log.events()
        if e.kind == "health.changed" and e.payload.get("service") == f"source:{source}"
    ]


async def _dispatch(conductor: Conductor) -> str:
    """One cycle; the dispatch it made (the newest)."""
    before = len(conductor.dispatch_ids)
    await conductor.cycle(conductor.clock())
    assert len(conductor.dispatch_ids) == before + 1, "no proposal"
    return conductor.dispatch_ids[-1]


def _final(log: EventLog, did: str) -> list[str]:
    return [e.kind for e in log.events(dispatch_id=did)]


def test_standard_battery_dispatched_verified_killed_and_recovered(
    devices: tuple[NodeDevice, NodeDevice], tmp_path: Path
) -> None:
    bess, meter = devices
    bess.start()
    meter.start()
    config = parse_config(SITE.format(bess=bess.endpoint, meter=meter.endpoint))
    log = EventLog(tmp_path / "events.db")

    async def main() -> None:
        conductor = Conductor(
            config,
            log,
            WallClock(),
            auto_approve=True,
            dlq=DeadLetterStore(tmp_path / "dlq.db"),
            state_timeout_s=5,
        )
        await conductor.connect()
        try:
            # report-on-change: nothing changes on the idle battery or the meter, yet after
            # more than max_age_s the link still confirms the values: the gate accepts
            await asyncio.sleep(4)
            did = await _dispatch(conductor)
            kinds = _final(log, did)
            assert kinds[-1] == "dispatch.verified", kinds
            # the device responds: its measured power reaches the setpoint (-250 clamped)
            setpoint = conductor.setpoints["bat1"]
            assert setpoint == 250.0
            await until(
                lambda: (
                    (r := conductor.state.get("bat1.p_kw")) is not None
                    and abs(r.value - setpoint) < 1.0
                ),
                10,
                "the battery's response",
            )
            # the battery dies mid-run: the site keeps running on the meter, alarms, and
            # every command to the battery is refused on its stale data
            bess.kill()
            await until(lambda: "down" in _health_events(log, "bess"), 15, "alarm")
            assert conductor.sources.health()["assets_unavailable"] == ["bat1"]
            assert conductor.sources.health()["status"] == "degraded"
            await asyncio.sleep(3.5)  # the battery's last values age out
            before = len(conductor.dispatch_ids)
            await conductor.cycle(conductor.clock())  # the site keeps deciding
            for did in conductor.dispatch_ids[before:]:  # nothing reaches the battery
                assert "dispatch.sent" not in _final(log, did), _final(log, did)
            meter_reading = conductor.state.get("substation.p_kw")
            assert meter_reading is not None
            assert (conductor.clock() - meter_reading.ts).total_seconds() < 2  # still live
            # it comes back: reconnected, alarm cleared, and dispatching again
            bess.start()
            await until(lambda: _health_events(log, "bess")[-1:] == ["ok"], 30, "recovery")
            await until(
                lambda: (
                    (r := conductor.state.get("bat1.soc_pct")) is not None
                    and (conductor.clock() - r.ts).total_seconds() < 1
                ),
                15,
                "fresh battery values",
            )
            # the restarted device is at setpoint 0: the rule proposes again
            did = await _dispatch(conductor)
            assert _final(log, did)[-1] == "dispatch.verified", _final(log, did)
            assert conductor.sources.health()["status"] == "ok"
        finally:
            await conductor.close()

    asyncio.run(main())
    assert log.verify() is None


def test_a_site_starts_with_a_device_down_and_picks_it_up(
    devices: tuple[NodeDevice, NodeDevice], tmp_path: Path
) -> None:
    bess, meter = devices
    bess.start()  # the meter is down at start
    config = parse_config(SITE.format(bess=bess.endpoint, meter=meter.endpoint))
    log = EventLog(tmp_path / "events.db")

    async def main() -> None:
        conductor = Conductor(config, log, WallClock(), auto_approve=True, state_timeout_s=1)
        await conductor.connect()  # does not raise: the site runs with what it has
        try:
            assert _health_events(log, "meter")[:1] == ["down"]
            health = conductor.sources.health()
            assert health["sources_down"] == ["meter"]
            assert health["assets_unavailable"] == ["substation"]
            await until(lambda: conductor.state.get("bat1.soc_pct") is not None, 10)
            await conductor.cycle(conductor.clock())  # no meter: nothing proposed, no crash
            assert conductor.dispatch_ids == []
            meter.start()
            await until(lambda: _health_events(log, "meter")[-1:] == ["ok"], 30, "meter up")
            await until(lambda: conductor.state.get("substation.p_kw") is not None, 10)
            did = await _dispatch(conductor)
            assert _final(log, did)[-1] == "dispatch.verified", _final(log, did)
            assert conductor.sources.health()["status"] == "ok"
        finally:
            await conductor.close()

    asyncio.run(main())

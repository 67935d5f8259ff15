"""End to end on a spec-strict Sparkplug B edge (pysparkplug, no gridaios metrics): DCMD
with timestamps in the metric's own datatype, confirmed by the edge's DDATA of the
written metric; the edge down at start and killed mid-run, the site running on."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from runtime.conductor.loop import Conductor
from runtime.config.load import parse_config
from runtime.core.clock import WallClock
from runtime.log.deadletter import DeadLetterStore
from runtime.log.eventlog import EventLog
from tests.support.mosquitto import Broker
from tests.support.nodedevice import NodeDevice
from tests.support.sparkplugedge import SparkplugEdge
from tests.support.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SITE = """
site: {{id: spb, name: sparkplug site}}
feeder: {{meter: substation, transformer_rating_kw: 5000}}
sources:
  - {{id: bus, type: mqtt, host: 127.0.0.1, port: {mqtt_port}, site: site1,
     format: sparkplug_b, allow_insecure: true, freshness: link, confirm_every_s: 0.5}}
  - {{id: meter, type: opcua, endpoint: "{meter}", allow_insecure: true,
     publishing_interval_ms: 50, freshness: link, keepalive_s: 0.5}}
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
      soc_pct: {{source: bus, node: edge1/bess1/StateOfCharge, unit: "%"}}
      p_kw: {{source: bus, node: edge1/bess1/ActivePower, unit: kW}}
      p_setpoint_kw: {{source: bus, node: edge1/bess1/ActivePowerSetpoint, unit: kW,
                      writable: true}}
policy:
  peak_shaving: {{battery: bat1, threshold_kw: 1100, cadence_s: 1, deadband_kw: 5,
                 command_duration_s: 3600}}
approvals: {{auto_approve_max_kw: 1000, two_person_min_kw: 1000, expiry_s: 900}}
safety: {{max_age_s: 3, policies: {{limit.max: clamp, limit.min: clamp, soc.window: clamp}}}}
"""


def _alarms(log: EventLog, service: str) -> list[str]:
    return [
        e.payload["state"]
        for e in log.events(kinds=("health.changed",))
        if e.payload.get("service") == service
    ]


def test_pysparkplug_edge_controlled_down_at_start_killed_and_recovered(
    mosquitto: Broker, tmp_path: Path
) -> None:
    edge = SparkplugEdge(mosquitto.host, mosquitto.port, "site1", "edge1", "bess1")
    with NodeDevice("meter", args=("--meter-kw", "1500")) as meter:
        config = parse_config(SITE.format(mqtt_port=mosquitto.port, meter=meter.endpoint))
        log = EventLog(tmp_path / "events.db")

        async def dispatch(conductor: Conductor) -> list[str]:
            before = len(conductor.dispatch_ids)
            await conductor.cycle(conductor.clock())
            assert len(conductor.dispatch_ids) == before + 1, "no proposal"
            return [e.kind for e in log.events(dispatch_id=conductor.dispatch_ids[-1])]

        def fresh(point: str) -> bool:
            r = conductor.state.get(point)
            return r is not None and (conductor.clock() - r.ts).total_seconds() < 1.0

        async def main() -> None:
            await conductor.connect()  # the edge is down: the site starts anyway
            try:
                await conductor.cycle(conductor.clock())
                assert conductor.dispatch_ids == []  # no battery data: nothing proposed
                edge.start()
                await until(lambda: fresh("bat1.soc_pct"), 20, "the edge's birth")
                await asyncio.sleep(4)  # longer than max_age_s, nothing changes on the edge
                assert fresh("bat1.soc_pct")  # the live node confirms its values
                kinds = await dispatch(conductor)
                assert kinds[-1] == "dispatch.verified", kinds
                assert edge.commands() == ["cmd ActivePowerSetpoint 250.0"]
                await until(
                    lambda: (
                        (r := conductor.state.get("bat1.p_kw")) is not None
                        and abs(r.value - 250.0) < 1
                    ),
                    10,
                    "the battery's response",
                )
                # the edge dies mid-run: its NDEATH (the broker's will) makes its points bad
                edge.kill()
                await until(lambda: "down" in _alarms(log, "source:bus/edge1"), 20, "alarm")
                assert conductor.sources.health()["status"] == "degraded"
                assert "bus/edge1" in conductor.sources.health()["devices_down"]
                reading = conductor.state.get("bat1.soc_pct")
                assert reading is not None and reading.quality.value == "bad"
                before = len(conductor.dispatch_ids)
                await conductor.cycle(conductor.clock())
                for did in conductor.dispatch_ids[before:]:
                    assert "dispatch.sent" not in [e.kind for e in log.events(dispatch_id=did)]
                assert fresh("substation.p_kw")  # the rest of the site runs on
                # born again: dispatching again
                edge.start()
                await until(lambda: _alarms(log, "source:bus/edge1")[-1:] == ["ok"], 20)
                await until(lambda: fresh("bat1.p_kw"), 20, "fresh values again")
                # a decision instant is one second (runtime/decide/policy.py's key): the
                # rejected cycle while dead may share this second, and is decided already
                dead_at = conductor.clock().replace(microsecond=0)
                await until(
                    lambda: conductor.clock() - dead_at >= timedelta(seconds=1), 2, "a new second"
                )
                kinds = await dispatch(conductor)
                assert kinds[-1] == "dispatch.verified", kinds
                assert conductor.sources.health()["status"] == "ok"
            finally:
                await conductor.close()

        conductor = Conductor(
            config,
            log,
            WallClock(),
            auto_approve=True,
            dlq=DeadLetterStore(tmp_path / "dlq.db"),
            state_timeout_s=1,
        )
        try:
            asyncio.run(main())
        finally:
            edge.stop()
    assert log.verify() is None

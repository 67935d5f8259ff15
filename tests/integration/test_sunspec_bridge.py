"""A SunSpec inverter nobody here wrote, behind the firmware bridge, controlled by the
runtime's bridge path end to end: the safety gate mints the command, the outbox sends
it through the MQTT command sink, the bridge (a real process, ``device_map.map:
sunspec``) discovers the inverter's models and writes the power limit (model 704), and
the dispatch is verified by the bridge's read-back and by the inverter's response.
Then the inverter is killed mid-run: the bridge reports it, the next dispatch is
refused with the reason and never verified, and when the runtime goes silent too the
bridge's fail-safe puts the safe default on the inverter as soon as it is back.

The inverter is pymodbus's server serving a layout pysunspec2 built from its model
definitions (tests/firmware_bridge/sunspec_inverter.py), independent of the bridge.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from connectors.mqtt import MqttClient
from runtime.conductor.outbox import Outbox
from runtime.conductor.sinks import MqttCommandSink
from runtime.ingest.state import LatestState
from runtime.log.deadletter import DeadLetterStore
from runtime.log.dispatch import State
from runtime.log.eventlog import EventLog
from runtime.service.jobs import RetryPolicy
from safety import ApprovedCommand
from tests.firmware_bridge.harness import BridgeProcess, write_config
from tests.firmware_bridge.sunspec_inverter import SunSpecInverter
from tests.integration.test_mqtt_command_sink import (
    BAT1,
    POINTS,
    bridge_source,
    record_gated,
    until,
    wall,
)
from tests.support.approved import approved
from tests.support.mosquitto import Broker

pytestmark = pytest.mark.integration

# The bridge's device is named bat1 in the harness; here it is an inverter.
INVERTER = BAT1
SAFE_DEFAULT_KW = 20.0


def sunspec_config(path: Path, broker: Broker, inverter: SunSpecInverter) -> Path:
    write_config(
        path,
        broker_port=broker.port,
        device_port=inverter.port,
        state_dir=path.parent / "state",
        cycle_s=0.1,
        heartbeat_timeout_s=2.0,
        min_hold_s=1.0,
        safe_default_kw=SAFE_DEFAULT_KW,
    )
    text = path.read_text().replace("min_kw: -200.0", "min_kw: 0.0")
    path.write_text(text + "device_map:\n  map: sunspec\n")
    return path


@asynccontextmanager
async def runtime_side(
    tmp_path: Path, broker: Broker
) -> AsyncIterator[tuple[LatestState, MqttClient, MqttCommandSink]]:
    source = bridge_source(broker)
    state = LatestState()
    connector = MqttClient(source, POINTS, state.apply, wall)
    await connector.connect()
    sink = MqttCommandSink(
        source, {"bat1": INVERTER}, lambda p: state.snapshot().get(p), wall, ack_timeout_s=3.0
    )
    await sink.connect()
    try:
        yield state, connector, sink
    finally:
        await sink.close()
        await connector.close()


def value(state: LatestState, point: str) -> float | None:
    reading = state.snapshot().get(point)
    return None if reading is None else float(reading.value)


async def dispatch(box: Outbox, log: EventLog, key: str, kw: float) -> Any:
    command: ApprovedCommand = approved(key, "bat1", kw, wall())
    record_gated(log, command, "PV curtailment through a SunSpec power limit", 100.0)
    return await box.submit(command, "bridge", rollback_kw=100.0)


async def test_a_sunspec_inverter_behind_the_bridge_dispatched_verified_killed_failsafe(
    tmp_path: Path, mosquitto: Broker
) -> None:
    inverter = SunSpecInverter(rated_w=100_000, available_w=80_000).start()
    bridge = BridgeProcess(
        sunspec_config(tmp_path / "bridge.yaml", mosquitto, inverter), tmp_path / "bridge.log"
    ).start()
    log = EventLog(tmp_path / "events.db")
    dlq = DeadLetterStore(tmp_path / "dlq.db")

    async def no_sleep(_s: float) -> None:
        await asyncio.sleep(0.2)

    try:
        async with runtime_side(tmp_path, mosquitto) as (state, connector, sink):

            async def write(command: ApprovedCommand, _source: str) -> Any:
                return await sink.write(command)

            box = Outbox(
                log, write, wall, retry=RetryPolicy(max_attempts=2), dlq=dlq, sleep=no_sleep
            )
            # Telemetry from the inverter's models: 80 kW of PV, no limit (rated 100 kW).
            await until(lambda: value(state, "bat1.p_kw") == 80.0, 20, "inverter telemetry")
            assert value(state, "bat1.setpoint_readback_kw") == 100.0
            assert value(state, "bat1.soc_pct") == 65.5  # model 713

            # Gate -> outbox -> sink -> bridge -> model 704; verified by read-back ...
            delivery = await dispatch(box, log, "k-limit-42", 42.0)
            assert delivery.state is State.VERIFIED, delivery
            model = inverter.model(704)
            assert model.points["WMaxLimPct"].cvalue == 42.0
            assert model.points["WMaxLimPctEna"].value == 1
            # ... and by the response: the inverter now produces at most 42 kW.
            await until(lambda: value(state, "bat1.p_kw") == 42.0, 10, "the inverter's response")

            # Kill the inverter mid-run: the bridge reports it ...
            port = inverter.port
            await asyncio.to_thread(inverter.stop)
            await until(lambda: value(state, "bat1.bridge_device_ok") == 0.0, 10, "device_ok = 0")
            # ... a dispatch now is refused with the reason and never verified.
            refused = await dispatch(box, log, "k-limit-30", 30.0)
            assert refused.state is not State.VERIFIED, refused
            assert "device unreachable" in refused.reason, refused.reason

            # The runtime goes silent too: the bridge enters fail-safe ...
            await connector.close()
            await asyncio.sleep(2.5)
        # ... and puts the safe default on the inverter as soon as it is back (it
        # rebooted: no limit in force).
        inverter = SunSpecInverter(rated_w=100_000, available_w=80_000)
        inverter.port = port
        inverter.start()

        def safe_default_in_force() -> bool:
            model = inverter.model(704)
            return bool(
                model.points["WMaxLimPctEna"].value == 1
                and model.points["WMaxLimPct"].cvalue == SAFE_DEFAULT_KW  # % of 100 kW
            )

        await until(safe_default_in_force, 10, "the safe default on the rebooted inverter")
        assert "fail-safe" in (tmp_path / "bridge.log").read_text()
    finally:
        await asyncio.to_thread(bridge.stop)
        log.close()
        await asyncio.to_thread(inverter.stop)

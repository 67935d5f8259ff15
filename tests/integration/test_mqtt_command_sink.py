"""The MQTT command sink against a real ``gridaios-bridge``, its emulated inverter and a
real mosquitto; the read-back comes through the real MQTT connector (runtime/sinks)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from gridaios_bridge import EmulatedInverter
from gridaios_bridge.config import EmulatorConfig

from connectors import PointBinding
from connectors.mqtt import MqttClient, MqttSourceConfig
from runtime.conductor.outbox import Outbox, command_body
from runtime.conductor.sinks import CommandExpired, CommandPoints, CommandRefused, MqttCommandSink
from runtime.ingest.state import LatestState
from runtime.log import events as ev
from runtime.log.deadletter import DeadLetterStore
from runtime.log.dispatch import Projections, State
from runtime.log.eventlog import EventLog
from runtime.service.jobs import BreakerState, RetryPolicy
from safety import ApprovedCommand
from tests.firmware_bridge.harness import SITE, BridgeProcess, write_config
from tests.support.approved import approved
from tests.support.mosquitto import Broker

pytestmark = pytest.mark.integration

WIRE = ("p_kw", "soc_pct", "safe_mode", "bridge_failsafe", "bridge_device_ok")
POINTS = [PointBinding(point=f"bat1.{n}", node_id=f"bat1.{n}", unit="") for n in WIRE] + [
    PointBinding(point="bat1.setpoint_readback_kw", node_id="bat1.p_setpoint_kw", unit="kW"),
    PointBinding(point="bat1.bridge_spool_dropped", node_id="bat1.bridge_spool_dropped", unit=""),
]
BAT1 = CommandPoints(
    device="bat1",
    command_point="bat1.p_setpoint_kw",
    readback_point="bat1.setpoint_readback_kw",
    safe_mode_point="bat1.safe_mode",
)


def wall() -> datetime:
    return datetime.now(UTC)


class DeviceBehind:
    """A device clock an hour behind the runtime's (a badly set clock)."""

    def to_device(self, t: datetime) -> datetime:
        return t - timedelta(hours=1)

    def to_runtime(self, t: datetime) -> datetime:
        return t + timedelta(hours=1)

    def device_now(self) -> datetime:
        return wall()


async def until(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def record_gated(log: EventLog, command: ApprovedCommand, why: str, rollback_kw: float) -> None:
    """The events the conductor writes before the outbox takes a command: proposed, gated."""
    log.append_event(
        ev.DispatchProposed(
            command=command_body(command),
            policy="test",
            rationale=why,
            snapshot={},
            rollback_kw=rollback_kw,
            last_setpoint_kw=rollback_kw,
        ),
        ts=wall(),
        dispatch_id=command.key,
    )
    log.append_event(
        ev.DispatchGated(outcome="accepted", value=float(command.value), constraints=[]),
        ts=wall(),
        dispatch_id=command.key,
    )


def bridge_source(broker: Broker) -> MqttSourceConfig:
    """The runtime's MQTT source for a bridge on ``broker`` (heartbeat every 0.2 s)."""
    return MqttSourceConfig(
        id="bridge",
        host=broker.host,
        port=broker.port,
        site=SITE,
        allow_insecure=True,
        heartbeat_s=0.2,
    )


@asynccontextmanager
async def bridged(tmp_path: Path, broker: Broker) -> AsyncIterator[tuple[LatestState, Any]]:
    device = EmulatedInverter(EmulatorConfig(response_time_s=0.1)).start()
    config = write_config(
        tmp_path / "bridge.yaml",
        broker_port=broker.port,
        device_port=device.port,
        state_dir=tmp_path / "state",
        cycle_s=0.1,
        heartbeat_timeout_s=2.0,
    )
    bridge = BridgeProcess(config, tmp_path / "bridge.log").start()
    source = bridge_source(broker)
    state = LatestState()
    connector = MqttClient(source, POINTS, state.apply, wall)
    await connector.connect()

    def make_sink(**kw: Any) -> MqttCommandSink:
        return MqttCommandSink(
            source, {"bat1": BAT1}, lambda p: state.snapshot().get(p), wall, **kw
        )

    try:
        await until(lambda: state.snapshot().get("bat1.soc_pct"), 20, "bridge telemetry")
        yield state, make_sink
    finally:
        await connector.close()
        await asyncio.to_thread(bridge.stop)
        device.stop()


async def test_applied_verified_clamped_rejected_expired_and_no_ack(
    tmp_path: Path, mosquitto: Broker
) -> None:
    async with bridged(tmp_path, mosquitto) as (_state, make_sink):
        sink = make_sink()
        await sink.connect()
        try:
            ok = await sink.write(approved("k-applied", "bat1", 60.0, wall()))
            assert ok.status == "applied" and ok.verified and ok.readback_value == 60.0, ok

            # The bridge's own limit (max 200 kW) clamps: acked, but the read-back differs,
            # so the outbox dead-letters it for a human instead of calling it verified.
            clamped = await sink.write(approved("k-clamped", "bat1", 300.0, wall()))
            assert clamped.applied_key == "k-clamped" and not clamped.verified, clamped
            assert clamped.readback_value == 200.0 and "clamped" in clamped.reason

            wrong = MqttCommandSink(
                sink.source,
                {
                    "bat1": CommandPoints(
                        device="bat1",
                        command_point="bat1.q_kvar",
                        readback_point=BAT1.readback_point,
                    )
                },
                lambda p: _state.snapshot().get(p),
                wall,
            )
            await wrong.connect()
            try:
                with pytest.raises(CommandRefused, match="unknown point") as refused:
                    await wrong.write(approved("k-wrong-point", "bat1", 10.0, wall()))
                assert refused.value.status == "rejected"
            finally:
                await wrong.close()

            behind = make_sink(timebase=DeviceBehind())
            await behind.connect()
            try:
                with pytest.raises(CommandExpired, match="never applied") as late:
                    await behind.write(approved("k-expired", "bat1", 10.0, wall()))
                assert late.value.status == "expired"
            finally:
                await behind.close()

            nobody = MqttCommandSink(
                sink.source,
                {
                    "bat9": CommandPoints(
                        device="bat9",
                        command_point="bat9.p_setpoint_kw",
                        readback_point="bat9.setpoint_readback_kw",
                    )
                },
                lambda p: _state.snapshot().get(p),
                wall,
                ack_timeout_s=0.3,
            )
            await nobody.connect()
            try:
                silent = await nobody.write(approved("k-nobody", "bat9", 10.0, wall()))
                assert silent.status == "no_ack" and silent.applied_key == ""
                assert math.isnan(silent.readback_value) and not silent.verified
            finally:
                await nobody.close()
            assert sink.counts["applied"] == 2 and sink.counts["verified"] == 1
            assert sink.counts["readback_mismatch"] == 1
        finally:
            await sink.close()


async def test_a_bad_ack_is_counted_and_kept_and_the_sink_goes_on(
    tmp_path: Path, mosquitto: Broker
) -> None:
    async with bridged(tmp_path, mosquitto) as (_state, make_sink):
        sink = make_sink()
        await sink.connect()
        try:
            other = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bad-acker")
            other.connect(mosquitto.host, mosquitto.port)
            other.loop_start()
            topic = f"gridaios/v1/{SITE}/bat1/ack"
            other.publish(topic, b'{"v": 1, "key": 5}', qos=1).wait_for_publish(5)
            other.loop_stop()
            other.disconnect()
            await until(lambda: sink.counts["bad_acks"] == 1, 10, "the bad ack")
            assert sink.bad_acks[0][0] == topic and sink.bad_acks[0][1] == b'{"v": 1, "key": 5}'
            ok = await sink.write(approved("k-after-bad", "bat1", 40.0, wall()))
            assert ok.verified, ok
        finally:
            await sink.close()


async def test_write_refuses_when_not_connected_or_asset_unknown(
    tmp_path: Path, mosquitto: Broker
) -> None:
    source = MqttSourceConfig(
        id="bridge", host=mosquitto.host, port=mosquitto.port, site=SITE, allow_insecure=True
    )
    sink = MqttCommandSink(source, {"bat1": BAT1}, LatestState().snapshot().get, wall)
    from connectors import ConnectorNotReady, WriteFailed

    with pytest.raises(ConnectorNotReady, match="not connected"):
        await sink.write(approved("k1", "bat1", 1.0, wall()))
    await sink.connect()
    try:
        with pytest.raises(WriteFailed, match="no setpoint of pv1"):
            await sink.write(approved("k2", "pv1", 1.0, wall()))
    finally:
        await sink.close()


async def test_a_command_the_bridge_answers_expired_is_recorded_expired_not_resent(
    tmp_path: Path, mosquitto: Broker
) -> None:
    """The runtime still sees the window open, the bridge (its clock an hour ahead of the
    command's deadline) answers ``expired``: the outbox ends the dispatch as expired with the
    bridge's reason after one attempt, instead of re-sending until its budget runs out."""
    async with bridged(tmp_path, mosquitto) as (_state, make_sink):
        sink = make_sink(timebase=DeviceBehind())
        await sink.connect()
        log = EventLog(tmp_path / "events.db")
        dlq = DeadLetterStore(tmp_path / "dlq.db")

        async def write(approved: ApprovedCommand, _source: str) -> Any:
            return await sink.write(approved)

        async def no_sleep(_s: float) -> None:
            return None

        box = Outbox(log, write, wall, retry=RetryPolicy(max_attempts=3), dlq=dlq, sleep=no_sleep)
        try:
            command = approved("k-device-expired", "bat1", 30.0, wall())
            record_gated(log, command, "a setpoint the bridge sees as already over", 0.0)
            delivery = await box.submit(command, "bridge", rollback_kw=0.0)

            assert delivery.state is State.EXPIRED and delivery.attempts == 1, delivery
            assert "answered expired" in delivery.reason and "never applied" in delivery.reason
            assert sink.counts["sent"] == 1 and sink.counts["expired"] == 1  # sent once
            history = list(log.events(dispatch_id=command.key))
            assert [e.kind for e in history] == [
                "dispatch.proposed",
                "dispatch.gated",
                "dispatch.approved",
                "dispatch.sent",
                "dispatch.expired",
            ]
            reason = str(history[-1].payload["reason"])
            assert "bat1 answered expired to k-device-expired" in reason, reason
            assert "valid_until passed" in reason and "not sent again" in reason
            assert dlq.list() == []  # nothing for a human to retry
            projections = Projections.load(log)
            assert projections.counts.get("expired") == 1
            assert projections.in_flight() == []  # a restart does not resume it either
            breaker = box.breakers("connector:bridge")  # the bridge answered: the link is fine
            assert breaker.state is BreakerState.CLOSED and breaker.failures == 0
        finally:
            await sink.close()
            log.close()

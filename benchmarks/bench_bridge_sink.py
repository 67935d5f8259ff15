"""The runtime's MQTT command sink through a real bridge: how long a verified command takes.

Row (baseline measured in the same run, same broker, bridge and device):
- ``bridge_sink_verified_p50``: ``MqttCommandSink.write`` from publish to a verified
  result (the bridge's ack, then its setpoint telemetry read back through the MQTT
  connector) vs a bare command -> ack round trip (no read-back). The difference is
  what read-back verification costs: up to one bridge cycle (50 ms here) plus one
  telemetry delivery.

Run: ``python -m benchmarks.bench_bridge_sink`` (or through the benchmark harness).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from gridaios_bridge import EmulatedInverter
from gridaios_bridge.config import EmulatorConfig

from benchmarks.bench_bridge import _Client, _row, _wait
from connectors import PointBinding
from connectors.mqtt import MqttClient, MqttSourceConfig
from runtime.conductor.sinks import CommandPoints, MqttCommandSink
from runtime.demo.bridge import BridgeProcess
from runtime.ingest.state import LatestState
from tests.firmware_bridge.harness import SITE, TOPICS, write_config
from tests.support.approved import approved
from tests.support.mosquitto import running_broker

N = 30
CYCLE_S = 0.05
ROLES = ("p_kw", "soc_pct", "safe_mode", "bridge_failsafe", "bridge_device_ok")
POINTS = [PointBinding(point=f"bat1.{r}", node_id=f"bat1.{r}", unit="") for r in ROLES] + [
    PointBinding(point="bat1.setpoint_readback_kw", node_id="bat1.p_setpoint_kw", unit="kW"),
    PointBinding(point="bat1.bridge_spool_dropped", node_id="bat1.bridge_spool_dropped", unit=""),
]


def wall() -> datetime:
    return datetime.now(UTC)


async def _sink_p50_ms(port: int) -> float:
    source = MqttSourceConfig(
        id="bench", host="127.0.0.1", port=port, site=SITE, allow_insecure=True, heartbeat_s=0.2
    )
    state = LatestState()
    connector = MqttClient(source, POINTS, state.apply, wall)
    await connector.connect()
    points = CommandPoints(
        device="bat1",
        command_point="bat1.p_setpoint_kw",
        readback_point="bat1.setpoint_readback_kw",
        safe_mode_point="bat1.safe_mode",
    )
    sink = MqttCommandSink(source, {"bat1": points}, lambda p: state.snapshot().get(p), wall)
    await sink.connect()
    try:
        deadline = time.monotonic() + 20
        while state.snapshot().get("bat1.soc_pct") is None:  # the bridge is up
            if time.monotonic() > deadline:
                raise RuntimeError("benchmark: no telemetry from the bridge in 20 s")
            await asyncio.sleep(0.02)
        took: list[float] = []
        for i in range(N):
            start = time.perf_counter()
            result = await sink.write(approved(f"sink-{i}", "bat1", 50.0 + i, wall()))
            took.append(time.perf_counter() - start)
            if not result.verified:
                raise RuntimeError(f"benchmark: command {i} not verified: {result}")
        return statistics.median(took) * 1000
    finally:
        await sink.close()
        await connector.close()


def _ack_p50_ms(port: int) -> float:
    client = _Client(port, [TOPICS.ack])
    try:
        took = []
        for i in range(N):
            key = f"raw-{i}"
            body = {
                "v": 1,
                "key": key,
                "point": "bat1.p_setpoint_kw",
                "value": 100.0 + i,
                "valid_until": "2099-01-01T00:00:00Z",
            }
            took.append(client.roundtrip(TOPICS.cmd, key, body))
        return statistics.median(took) * 1000
    finally:
        client.close()


def run() -> list[dict[str, object]]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_broker(
            Path(tmp) / "broker", extra_conf="allow_anonymous true\nset_tcp_nodelay true\n"
        ) as broker,
    ):
        device = EmulatedInverter(EmulatorConfig(response_time_s=0.05)).start()
        config = write_config(
            Path(tmp) / "bridge.yaml",
            broker_port=broker.port,
            device_port=device.port,
            state_dir=Path(tmp) / "state",
            cycle_s=CYCLE_S,
            heartbeat_timeout_s=30.0,
        )
        bridge = BridgeProcess(config, Path(tmp) / "bridge.log").start()
        try:
            # The raw round trip needs the bridge up and heartbeats; the sink run sends them.
            sink_ms = asyncio.run(_sink_p50_ms(broker.port))
            _wait(lambda: device.reading().setpoint_kw == 50.0 + N - 1, 10, "last setpoint")
            ack_ms = _ack_p50_ms(broker.port)
        finally:
            bridge.stop()
            device.stop()
    return [_row("bridge_sink_verified_p50", sink_ms, "ms", ack_ms)]


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))

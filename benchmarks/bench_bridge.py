"""Firmware bridge: memory of the running bridge and command round-trip latency.

Rows (baselines measured in the same run):
- ``bridge_rss``: VmRSS of the running bridge process (real mosquitto, emulated
  inverter, telemetry flowing) vs a bare Python process that imported paho-mqtt.
- ``bridge_command_roundtrip_p50``: command published -> ack received (decode, checks,
  fsynced ledger append, Modbus write) vs a plain MQTT echo round trip through the same
  broker (publish -> receive on a subscribed topic).

Run: ``python -m benchmarks.bench_bridge`` (or through the benchmark harness).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from gridaios_bridge import EmulatedInverter
from gridaios_bridge.config import EmulatorConfig
from gridaios_bridge.protocol import Topics, format_ts
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mosquitto import running_broker

N_ROUNDTRIPS = 100
TOPICS = Topics(site="bench", device="bat1")
CONFIG = """site: bench
device: bat1
state_dir: {state}
cycle_s: 0.5
mqtt:
  port: {mqtt_port}
modbus:
  port: {modbus_port}
failsafe:
  heartbeat_timeout_s: 30
limits:
  min_kw: -250
  max_kw: 250
"""


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _wait(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise RuntimeError(f"benchmark: timed out waiting for {what}")


class _Client:
    def __init__(self, port: int, topics: list[str]) -> None:
        self.got: dict[str, float] = {}
        self.cv = threading.Condition()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{time.monotonic()}")
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        for t in topics:
            self.c.subscribe(t, qos=1)

    def _on_message(self, _c, _u, msg) -> None:  # type: ignore[no-untyped-def]
        key = json.loads(msg.payload).get("key", "")
        with self.cv:
            self.got[key] = time.perf_counter()
            self.cv.notify_all()

    def roundtrip(self, topic: str, key: str, body: dict[str, object]) -> float:
        start = time.perf_counter()
        self.c.publish(topic, json.dumps(body), qos=1)
        with self.cv:
            if not self.cv.wait_for(lambda: key in self.got, timeout=10):
                raise RuntimeError(f"no answer for {key}")
            return self.got[key] - start

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def run() -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp, running_broker(Path(tmp) / "mq") as broker:
        device = EmulatedInverter(EmulatorConfig()).start()
        cfg = Path(tmp) / "bridge.yaml"
        cfg.write_text(
            CONFIG.format(state=Path(tmp) / "state", mqtt_port=broker.port, modbus_port=device.port)
        )
        bridge = subprocess.Popen(
            [sys.executable, "-m", "gridaios_bridge", "--config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        baseline = subprocess.Popen(
            [sys.executable, "-c", "import paho.mqtt.client, time; time.sleep(60)"],
        )
        client = _Client(broker.port, [TOPICS.ack, "bench/echo"])
        try:
            spool_state = Path(tmp) / "state" / "spool" / "state.json"
            _wait(spool_state.exists, 20, "the bridge's first telemetry")
            client.c.publish(
                TOPICS.heartbeat, json.dumps({"v": 1, "seq": 1, "ts": format_ts(datetime.now(UTC))})
            )
            bridge_s, echo_s = [], []
            for i in range(N_ROUNDTRIPS):
                until = format_ts(datetime.now(UTC) + timedelta(minutes=5))
                body = {
                    "v": 1,
                    "key": f"b{i}",
                    "point": "bat1.p_setpoint_kw",
                    "value": float(i % 50),
                    "valid_until": until,
                }
                bridge_s.append(client.roundtrip(TOPICS.cmd, f"b{i}", body))
                echo_s.append(client.roundtrip("bench/echo", f"e{i}", {"key": f"e{i}"}))
            time.sleep(1.0)  # let a few telemetry cycles run before sampling memory
            bridge_rss, base_rss = _rss_kb(bridge.pid), _rss_kb(baseline.pid)
        finally:
            client.close()
            bridge.terminate()
            baseline.terminate()
            bridge.wait(10)
            baseline.wait(10)
            device.stop()
    p50_bridge_ms = statistics.median(bridge_s) * 1000
    p50_echo_ms = statistics.median(echo_s) * 1000
    return [
        _row("bridge_rss", bridge_rss / 1024, "MiB", base_rss / 1024),
        _row("bridge_command_roundtrip_p50", p50_bridge_ms, "ms", p50_echo_ms),
    ]


def _row(name: str, value: float, unit: str, baseline: float) -> dict[str, object]:
    ratio = value / baseline
    return {"name": name, "value": value, "unit": unit, "baseline": baseline, "ratio": ratio}


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))

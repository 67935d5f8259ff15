"""Test harness for the firmware bridge: the real bridge as a subprocess, a real
mosquitto, the emulated inverter in-process, and an MQTT observer that plays the runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from gridaios_bridge import EmulatedInverter
from gridaios_wire.jsonv1 import Topics, format_ts

SITE, DEVICE = "test-site", "bat1"
TOPICS = Topics(site=SITE, device=DEVICE)


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll ``predicate`` until truthy; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def write_config(
    path: Path,
    *,
    broker_port: int,
    device_port: int,
    state_dir: Path,
    cycle_s: float = 0.2,
    heartbeat_timeout_s: float = 1.0,
    min_hold_s: float = 1.0,
    safe_default_kw: float = 0.0,
    ramp_kw_per_s: float = 0.0,
    spool_max_messages: int = 10_000,
) -> Path:
    path.write_text(
        f"""# written by tests/firmware_bridge/harness.py
site: {SITE}
device: {DEVICE}
state_dir: {state_dir}
cycle_s: {cycle_s}
spool_max_messages: {spool_max_messages}
mqtt:
  host: 127.0.0.1
  port: {broker_port}
  reconnect_max_s: 1
modbus:
  host: 127.0.0.1
  port: {device_port}
  timeout_s: 1.0
failsafe:
  heartbeat_timeout_s: {heartbeat_timeout_s}
  safe_default_kw: {safe_default_kw}
  min_hold_s: {min_hold_s}
limits:
  min_kw: -200.0
  max_kw: 200.0
  ramp_kw_per_s: {ramp_kw_per_s}
"""
    )
    return path


class BridgeProcess:
    """``python -m gridaios_bridge --config ...`` as a real OS process."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> BridgeProcess:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gridaios_bridge", "--config", str(self.config)],
            stdout=out,
            stderr=out,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no cleanup, no flush
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("VmRSS not found")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Received:
    topic: str
    payload: dict[str, Any]
    retain: bool
    at_s: float = field(default_factory=time.monotonic)


class Runtime:
    """Plays the runtime on MQTT: observes everything under the site, sends heartbeats
    and commands. ``persistent=True`` keeps a broker-side session (needs a persistent
    broker) so nothing published while this client is away is lost."""

    def __init__(self, port: int, persistent: bool = False, client_id: str = "test-runtime"):
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.connected = threading.Event()
        self._hb_seq = 0
        self._hb_stop = threading.Event()
        self._hb_thread: threading.Thread | None = None
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise AssertionError("test runtime could not connect to mosquitto")

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        client.subscribe(f"gridaios/v1/{SITE}/{DEVICE}/#", qos=1)
        self.connected.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            payload = {"_raw": msg.payload.decode(errors="replace")}
        with self.lock:
            self.messages.append(Received(msg.topic, payload, bool(msg.retain)))

    def of(self, topic: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic]

    def acks(self, key: str | None = None) -> list[dict[str, Any]]:
        return [m.payload for m in self.of(TOPICS.ack) if key is None or m.payload["key"] == key]

    def statuses(self) -> list[dict[str, Any]]:
        return [m.payload for m in self.of(TOPICS.status)]

    def telemetry(self) -> list[dict[str, Any]]:
        return [m.payload for m in self.of(TOPICS.telemetry)]

    def heartbeat(self) -> None:
        self._hb_seq += 1
        body = {"v": 1, "seq": self._hb_seq, "ts": format_ts(datetime.now(UTC))}
        self.client.publish(TOPICS.heartbeat, json.dumps(body), qos=1)

    def start_heartbeats(self, period_s: float = 0.1) -> None:
        self._hb_stop.clear()

        def loop() -> None:
            while not self._hb_stop.is_set():
                self.heartbeat()
                self._hb_stop.wait(period_s)

        self._hb_thread = threading.Thread(target=loop, daemon=True)
        self._hb_thread.start()

    def stop_heartbeats(self) -> None:
        self._hb_stop.set()
        if self._hb_thread is not None:
            self._hb_thread.join(timeout=5)

    def command(
        self,
        key: str,
        value_kw: float,
        valid_for_s: float = 600.0,
        point: str = f"{DEVICE}.p_setpoint_kw",
    ) -> None:
        body = {
            "v": 1,
            "key": key,
            "point": point,
            "value": value_kw,
            "valid_until": format_ts(datetime.now(UTC) + timedelta(seconds=valid_for_s)),
        }
        self.client.publish(TOPICS.cmd, json.dumps(body), qos=1)

    def wait_ack(self, key: str, count: int = 1, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        return wait_until(
            lambda: (a := self.acks(key)) and len(a) >= count and a,
            timeout_s,
            f"{count} ack(s) for {key}",
        )

    def close(self) -> None:
        self.stop_heartbeats()
        self.client.loop_stop()
        self.client.disconnect()


def setpoint_writes(device: EmulatedInverter) -> list[float]:
    return [w.setpoint_kw for w in device.writes if not w.safe_mode]


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))

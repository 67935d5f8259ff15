"""The virtual field's MQTT side against a real mosquitto broker, in the JSON wire format."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from runtime import site
from runtime.config import load_config
from runtime.demo import free_port
from simulator import VirtualField, load_scenario
from simulator.mqttfield import MqttField
from simulator.scenario import Scenario
from tests.simulator.test_field import Clock, advance, at
from tests.support.mosquitto import Broker

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "configs" / "scenarios"
SITE = "demo-feeder"
pytestmark = pytest.mark.integration


class Listener:
    """A runtime-side MQTT client that records every message under the site."""

    def __init__(self, broker: Broker) -> None:
        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(f"gridaios/v1/{SITE}/#", qos=1)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/cmd"):
            return  # our own commands (possibly malformed on purpose)
        with self._lock:
            self.messages.append((msg.topic, json.loads(msg.payload), bool(msg.retain)))

    def on(self, leaf: str, device: str) -> list[dict[str, Any]]:
        topic = f"gridaios/v1/{SITE}/{device}/{leaf}"
        with self._lock:
            return [body for t, body, _ in self.messages if t == topic]

    def send(self, device: str, body: dict[str, Any] | bytes) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body)
        self.client.publish(f"gridaios/v1/{SITE}/{device}/cmd", payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def served(
    broker: Broker, sc: Scenario
) -> AsyncIterator[tuple[VirtualField, MqttField, Listener, Clock]]:
    config = load_config(REPO / "configs" / "demo-feeder.yaml")
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/gridaios/field"
    clock = Clock(sc.start)
    field = VirtualField(site.field_spec(config), sc, clock, endpoint)
    listener = Listener(broker)
    mqtt_field = MqttField(field, SITE, broker.host, broker.port)
    await field.start()
    await mqtt_field.start()
    try:
        yield field, mqtt_field, listener, clock
    finally:
        await mqtt_field.stop()
        await field.stop()
        listener.close()


def cmd(
    key: str, value: float, valid_until: str, point: str = "bat1.p_setpoint_kw"
) -> dict[str, Any]:
    return {"v": 1, "key": key, "point": point, "value": value, "valid_until": valid_until}


async def test_telemetry_status_commands_and_acks(mosquitto: Broker) -> None:
    sc = load_scenario("evening-peak", SCENARIOS)
    async with served(mosquitto, sc) as (field, mqtt_field, listener, clock):
        await wait_for(lambda: listener.on("status", "bat1"), "bat1 online status")
        assert listener.on("status", "bat1")[-1]["state"] == "online"
        await advance(field, clock, sc.start + timedelta(minutes=2))
        await wait_for(lambda: len(listener.on("telemetry", "bat1")) >= 5, "bat1 telemetry")
        batches = listener.on("telemetry", "bat1")
        seqs = [b["seq"] for b in batches]
        assert seqs == list(range(1, len(seqs) + 1))
        points = {s["point"] for s in batches[-1]["samples"]}
        assert points == {"bat1.p_kw", "bat1.soc_pct"}
        assert batches[-1]["samples"][0]["quality"] == "good"
        assert listener.on("telemetry", "substation")[-1]["samples"][0]["unit"] == "kW"
        # A curtailable device reports the curtailment in force from the start: 0 %.
        pv = {s["point"]: s for s in listener.on("telemetry", "pv1")[-1]["samples"]}
        assert set(pv) == {"pv1.p_kw", "pv1.curtail_pct"}
        assert (pv["pv1.curtail_pct"]["value"], pv["pv1.curtail_pct"]["unit"]) == (0.0, "%")
        assert pv["pv1.curtail_pct"]["quality"] == "good"

        later = (clock.now + timedelta(minutes=15)).isoformat()
        listener.send("bat1", cmd("k1", 120.0, later))
        await wait_for(lambda: mqtt_field.counts["commands"] >= 1, "command received")
        await advance(field, clock, clock.now + timedelta(seconds=10))
        await wait_for(lambda: listener.on("ack", "bat1"), "ack for k1")
        ack = listener.on("ack", "bat1")[-1]
        assert (ack["key"], ack["status"], ack["value"]) == ("k1", "applied", 120.0)
        assert [c.key for c in field.ledger("bat1")] == ["k1"]

        listener.send("bat1", cmd("k1", 999.0, later))  # same key again: not re-applied
        await wait_for(lambda: mqtt_field.counts["commands"] >= 2, "duplicate received")
        await advance(field, clock, clock.now + timedelta(seconds=10))
        await wait_for(lambda: len(listener.on("ack", "bat1")) >= 2, "ack for the duplicate")
        dup = listener.on("ack", "bat1")[-1]
        assert (dup["status"], dup["value"]) == ("duplicate", 120.0)

        listener.send("bat1", cmd("k2", 50.0, (clock.now - timedelta(seconds=1)).isoformat()))
        await wait_for(lambda: len(listener.on("ack", "bat1")) >= 3, "ack for the stale one")
        assert listener.on("ack", "bat1")[-1]["status"] == "expired"

        listener.send("load1", cmd("c1", 30.0, later, point="load1.curtail_pct"))
        await wait_for(lambda: mqtt_field.counts["commands"] >= 4, "curtail received")
        await advance(field, clock, clock.now + timedelta(seconds=10))
        await wait_for(lambda: listener.on("ack", "load1"), "ack for the curtailment")
        assert listener.on("ack", "load1")[-1]["status"] == "applied"
        await advance(field, clock, clock.now + timedelta(seconds=10))

        def load1_curtail() -> list[float]:
            return [
                s["value"]
                for b in listener.on("telemetry", "load1")
                for s in b["samples"]
                if s["point"] == "load1.curtail_pct"
            ]

        await wait_for(lambda: load1_curtail()[-1:] == [30.0], "load1 reports 30 %")
        # ... and its OPC UA register reads the same (one device, two faces)
        assert field._read("ns=2;s=load1.curtail_pct") == 30.0
        assert [c.key for c in field.ledger("bat1")] == ["k1"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "bad command payload"),
        (json.dumps({"v": 1, "key": "x", "point": "bat1.p_setpoint_kw"}).encode(), "value"),
        (
            json.dumps(cmd("x", 1.0, "2026-07-15T18:00:00Z", point="bat1.soc_pct")).encode(),
            "not a writable point of bat1",
        ),
        (
            json.dumps({**cmd("x", 1.0, "2026-07-15T18:00:00Z"), "extra": 1}).encode(),
            "extra",
        ),
    ],
)
async def test_bad_commands_are_rejected_dead_lettered_and_never_applied(
    mosquitto: Broker, payload: bytes, reason: str
) -> None:
    sc = load_scenario("evening-peak", SCENARIOS)
    async with served(mosquitto, sc) as (field, mqtt_field, listener, clock):
        listener.send("bat1", payload)
        await wait_for(lambda: listener.on("ack", "bat1"), "rejection ack")
        ack = listener.on("ack", "bat1")[-1]
        assert ack["status"] == "rejected"
        assert reason in ack["reason"]
        assert mqtt_field.dead_letters[-1].raw == payload
        assert mqtt_field.counts["rejected_bad_input"] == 1
        await advance(field, clock, clock.now + timedelta(seconds=30))
        assert field.ledger("bat1") == []


async def test_comms_loss_swallows_commands(mosquitto: Broker) -> None:
    base = load_scenario("comms-loss", SCENARIOS)
    sc = Scenario.model_validate({**base.model_dump(), "comms": {}, "response_delay_s": 0})
    async with served(mosquitto, sc) as (field, mqtt_field, listener, clock):
        await advance(field, clock, at(sc, "18:32"))
        listener.send("bat1", cmd("lost", 100.0, at(sc, "18:50").isoformat()))
        await wait_for(lambda: mqtt_field.counts["commands"] >= 1, "command received")
        await advance(field, clock, at(sc, "18:40"))
        assert field.ledger("bat1") == []
        assert listener.on("ack", "bat1") == []  # no answer: the runtime times out
        assert field.stats()["commands"]["dropped_link_down"] == 1


@pytest.mark.xfail(
    strict=False,
    reason="known defect, open: when other field tests ran earlier in the same process the "
    "offline status is published (rc 0) but never reaches the listener; passes on its own",
)
async def test_device_offline_publishes_a_retained_offline_status(mosquitto: Broker) -> None:
    base = load_scenario("comms-loss", SCENARIOS)
    sc = Scenario.model_validate({**base.model_dump(), "comms": {}, "response_delay_s": 0})
    async with served(mosquitto, sc) as (field, _mqtt_field, listener, clock):
        await advance(field, clock, at(sc, "19:31"), step_s=30)
        await wait_for(
            lambda: any(m["state"] == "offline" for m in listener.on("status", "bat1")),
            "offline status",
        )
        telemetry = listener.on("telemetry", "bat1")[-1]
        assert telemetry["samples"][0]["quality"] == "bad"


def test_sim_field_cli_serves_mqtt_and_opcua(mosquitto: Broker, tmp_path: Path) -> None:
    """`gridaios sim field --mqtt` as an integrator runs it, on a copy of the demo config."""
    import subprocess
    import sys
    import time

    port = free_port()
    text = (REPO / "configs" / "demo-feeder.yaml").read_text()
    text = text.replace("network: networks/", f"network: {REPO / 'configs' / 'networks'}/")
    config = tmp_path / "site.yaml"
    config.write_text(text.replace("127.0.0.1:48400", f"127.0.0.1:{port}"))
    listener = Listener(mosquitto)
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gridaios"),
            "sim",
            "field",
            "--config",
            str(config),
            "--scenario",
            "line-trip",
            "--network",
            str(REPO / "configs" / "networks" / "demo-feeder.yaml"),
            "--speed",
            "60",
            "--mqtt",
            f"{mosquitto.host}:{mosquitto.port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (listener.on("telemetry", "substation") and listener.on("telemetry", "bat1")):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no telemetry from the CLI field"
            time.sleep(0.05)
        meter = listener.on("telemetry", "substation")[-1]["samples"][0]
        assert meter["point"] == "substation.p_kw" and meter["value"] > 500
        assert {b["state"] for b in listener.on("status", "pv1")} == {"online"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        listener.close()

"""The virtual field's MQTT side against a real mosquitto broker, in the JSON wire format."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from runtime.config import site
from runtime.config.model import load_config
from runtime.demo.feeder import free_port
from simulator import VirtualField, load_scenario
from simulator.mqttfield import MqttField
from simulator.scenario import Scenario
from tests.simulator.test_field import Clock, advance, at
from tests.support.mosquitto import Broker

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "configs" / "scenarios"
SITE = "demo-feeder"
SYNC_TOPIC = f"gridaios/v1/{SITE}/_test/sync"
pytestmark = pytest.mark.integration


class Listener:
    """A runtime-side MQTT client that records every message under the site.

    It is not lossless: mosquitto holds at most ``max_queued_messages`` (1,000 by default)
    QoS 1 messages for a subscriber beyond the 20 in flight and drops the rest. A test that
    advances the field by hours in a tight loop publishes thousands of telemetry batches
    faster than this client (sharing the GIL with the field) takes them, so the broker
    drops part of that burst. ``sync()`` waits until the broker's queue for this client
    has drained; what a test asserts must be published after a ``sync()`` (or be retained).
    """

    def __init__(self, broker: Broker) -> None:
        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self._lock = threading.Lock()
        self._markers: set[int] = set()
        self._next_marker = 0
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(f"gridaios/v1/{SITE}/#", qos=1)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/cmd"):
            return  # our own commands (possibly malformed on purpose)
        body = json.loads(msg.payload)
        with self._lock:
            if msg.topic == SYNC_TOPIC:
                self._markers.add(int(body["marker"]))
                return
            self.messages.append((msg.topic, body, bool(msg.retain)))

    @contextmanager
    def stalled(self) -> Iterator[None]:
        """Hold this client's network thread (a slow consumer): the broker queues, then drops."""
        with self._lock:
            yield

    async def sync(self, timeout_s: float = 30.0) -> None:
        """Return once every message the broker queued for us before now has been delivered
        (or dropped): a marker we publish to ourselves comes back after all of them. The
        marker itself is dropped when the queue is full, so it is sent again until it arrives."""
        self._next_marker += 1
        marker = self._next_marker
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            info = self.client.publish(SYNC_TOPIC, json.dumps({"marker": marker}), qos=1)
            await asyncio.to_thread(info.wait_for_publish, 5)
            resend_at = loop.time() + 1.0
            while loop.time() < resend_at:
                with self._lock:
                    if marker in self._markers:
                        return
                await asyncio.sleep(0.01)
            if loop.time() > deadline:
                raise AssertionError(f"the broker did not drain our queue within {timeout_s} s")

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
        (json.dumps({"v": 1, "key": "x", "point": "bat1.p_setpoint_kw"}).encode(), "value"),
        (
            json.dumps(cmd("x", 1.0, "2026-07-15T18:00:00Z", point="bat1.soc_pct")).encode(),
            "not a writable point of bat1",
        ),
        (
            json.dumps({**cmd("x", 1.0, "2026-07-15T18:00:00Z"), "extra": 1}).encode(),
            "unknown field 'extra'",
        ),
        (
            json.dumps({**cmd("x", 1.0, "2026-07-15T18:00:00Z"), "value": "1"}).encode(),
            "value = '1': must be a number",
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


async def test_a_command_without_a_readable_key_is_dead_lettered_and_not_acked(
    mosquitto: Broker,
) -> None:
    sc = load_scenario("evening-peak", SCENARIOS)
    async with served(mosquitto, sc) as (field, mqtt_field, listener, clock):
        listener.send("bat1", b"{not json")
        await wait_for(lambda: mqtt_field.dead_letters, "dead letter")
        assert "not UTF-8 JSON" in mqtt_field.dead_letters[-1].reason
        # a good command after it is acked: the bad one got none (nothing to correlate)
        listener.send("bat1", json.dumps(cmd("k9", 5.0, "2099-01-01T00:00:00Z")).encode())
        await wait_for(lambda: mqtt_field.counts["commands"] >= 2, "good command received")
        await advance(field, clock, clock.now + timedelta(seconds=30))
        await wait_for(lambda: listener.on("ack", "bat1"), "ack of the good command")
        assert [a["key"] for a in listener.on("ack", "bat1")] == ["k9"]


async def test_comms_loss_swallows_commands(mosquitto: Broker) -> None:
    base = load_scenario("comms-loss", SCENARIOS)
    sc = Scenario.model_validate({**base.model_dump(), "comms": {}, "response_delay_s": 0})
    async with served(mosquitto, sc) as (field, mqtt_field, listener, clock):
        await advance(field, clock, at(sc, "18:32"))
        await mqtt_field.flush()
        await listener.sync()  # the burst is behind us: an ack from now on would reach us
        listener.send("bat1", cmd("lost", 100.0, at(sc, "18:50").isoformat()))
        await wait_for(lambda: mqtt_field.counts["commands"] >= 1, "command received")
        await advance(field, clock, at(sc, "18:40"))
        await mqtt_field.flush()
        await listener.sync()
        assert field.ledger("bat1") == []
        assert listener.on("ack", "bat1") == []  # no answer: the runtime times out
        assert field.stats()["commands"]["dropped_link_down"] == 1


async def retained(broker: Broker, topic: str) -> tuple[dict[str, Any], bool]:
    """What a runtime that subscribes now gets on ``topic``: the retained message, if any."""
    got: list[tuple[dict[str, Any], bool]] = []
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, msg: got.append((json.loads(msg.payload), msg.retain))
    client.connect(broker.host, broker.port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    try:
        await wait_for(lambda: bool(got), f"the retained message on {topic}")
        return got[0]
    finally:
        client.disconnect()
        client.loop_stop()


async def test_device_offline_publishes_a_retained_offline_status(mosquitto: Broker) -> None:
    """The inverter trips at 19:30 after four hours of field time run in a tight loop.

    The listener is stalled through that burst (a slow consumer, the worst case): the broker
    drops most of it (its queue per subscriber is bounded). The offline status is retained,
    so a runtime that subscribes afterwards gets it; a live subscriber that has caught up
    sees it and the bad-quality telemetry as they happen.
    """
    base = load_scenario("comms-loss", SCENARIOS)
    sc = Scenario.model_validate({**base.model_dump(), "comms": {}, "response_delay_s": 0})
    async with served(mosquitto, sc) as (field, mqtt_field, listener, clock):
        with listener.stalled():
            await advance(field, clock, at(sc, "19:29"), step_s=30)
            await mqtt_field.flush()  # the broker holds the whole burst for the stalled client
        await listener.sync()
        assert len(listener.on("telemetry", "bat1")) < mqtt_field.counts["telemetry"] / 4
        assert all(m["state"] == "online" for m in listener.on("status", "bat1"))

        await advance(field, clock, at(sc, "19:31"), step_s=30)
        await wait_for(
            lambda: any(m["state"] == "offline" for m in listener.on("status", "bat1")),
            "offline status",
        )
        stamp = at(sc, "19:31")

        def at_1931() -> list[dict[str, Any]]:
            return [
                b
                for b in listener.on("telemetry", "bat1")
                if datetime.fromisoformat(b["samples"][0]["ts"]) == stamp
            ]

        await wait_for(lambda: bool(at_1931()), "bat1 telemetry at 19:31")
        assert {s["quality"] for s in at_1931()[-1]["samples"]} == {"bad"}

        status, is_retained = await retained(mosquitto, f"gridaios/v1/{SITE}/bat1/status")
        assert (status["state"], is_retained) == ("offline", True)


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

"""MQTT JSON wire format against a real mosquitto: telemetry, bad input, commands and acks."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors import (
    Batch,
    ConnectionState,
    ConnectorNotReady,
    MemoryDeadLetters,
    PointBinding,
    Sample,
    SampleQuality,
    WriteTarget,
)
from connectors.mqtt import MqttClient, MqttSourceConfig
from tests.support.approved import approved
from tests.support.mosquitto import Broker, free_port
from tests.support.mqttdevice import Device
from tests.support.waiting import until

pytestmark = pytest.mark.integration

SITE = "demo-feeder"
TOPIC = f"gridaios/v1/{SITE}/bat1/telemetry"
POINTS = [
    PointBinding(point="bat1.soc_pct", node_id="bat1.soc_pct", unit="%"),
    PointBinding(point="bat1.p_kw", node_id="bat1.p_kw", unit="kW"),
]
T0 = datetime(2026, 7, 15, 18, 0, tzinfo=UTC)


def config(broker: Broker, **extra: object) -> MqttSourceConfig:
    return MqttSourceConfig.model_validate(
        {
            "id": "mq",
            "type": "mqtt",
            "host": broker.host,
            "port": broker.port,
            "site": SITE,
            "allow_insecure": True,
            **extra,
        }
    )


def batch(seq: int, samples: list[dict[str, object]]) -> bytes:
    return json.dumps({"v": 1, "device": "bat1", "seq": seq, "samples": samples}).encode()


def sample(
    point: str, value: object, ts: datetime | str = T0, **extra: object
) -> dict[str, object]:
    stamp = ts if isinstance(ts, str) else ts.isoformat()
    return {"point": point, "value": value, "ts": stamp, **extra}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_telemetry_batches_become_samples_and_duplicates_are_dropped(mosquitto: Broker) -> None:
    got: list[Sample] = []
    batches: list[Batch] = []

    async def main() -> None:
        client = MqttClient(
            config(mosquitto), POINTS, got.append, Clock(T0), on_batch=batches.append
        )
        await client.connect()
        assert client.state is ConnectionState.CONNECTED
        device = Device(mosquitto.host, mosquitto.port)
        try:
            body = batch(
                7,
                [
                    sample("bat1.soc_pct", 80.5, unit="%"),
                    sample("bat1.p_kw", 120, quality="uncertain"),
                ],
            )
            device.publish(TOPIC, body)
            device.publish(TOPIC, body)  # same seq again: a duplicate
            device.publish(TOPIC, batch(8, [sample("bat1.p_kw", 121.0, T0 + timedelta(seconds=1))]))
            await until(lambda: len(batches) == 2, what="two batches delivered")
            assert client.normalizer.counts["duplicate"] == 1
        finally:
            device.close()
            await client.close()

    asyncio.run(main())
    assert [(s.point, s.value, s.unit, s.quality, s.sequence) for s in got] == [
        ("bat1.soc_pct", 80.5, "%", SampleQuality.GOOD, 7),
        ("bat1.p_kw", 120.0, "kW", SampleQuality.UNCERTAIN, 7),
        ("bat1.p_kw", 121.0, "kW", SampleQuality.GOOD, 8),
    ]
    assert got[0].source_ts == T0 and got[0].received_ts == T0


BAD = [
    ("malformed_json", b'{"v": 1, "device": "bat1", "seq": 1, "samples": [', 0),
    ("wrong_type", batch(1, [sample("bat1.p_kw", "lots")]), 0),
    (
        "not_finite",
        b'{"v":1,"device":"bat1","seq":1,"samples":[{"point":"bat1.p_kw",'
        b'"value":NaN,"ts":"2026-07-15T18:00:00Z"},{"point":"bat1.soc_pct","value":50,'
        b'"ts":"2026-07-15T18:00:00Z"}]}',
        1,
    ),
    ("unknown_point", batch(1, [sample("bat1.mystery", 1.0), sample("bat1.p_kw", 5.0)]), 1),
    ("unit_mismatch", batch(1, [sample("bat1.p_kw", 5000.0, unit="W")]), 0),
    ("wrong_type", batch(1, [sample("bat1.p_kw", 1.0, ts="2026-07-15T18:00:00")]), 0),
    ("wrong_type", json.dumps({"v": 2, "device": "bat1", "seq": 1, "samples": []}).encode(), 0),
    ("oversized", batch(1, [sample("bat1.p_kw", float(i)) for i in range(1001)]), 0),
]


@pytest.mark.parametrize(("reason", "payload", "good"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_counted_dead_lettered_and_the_pipeline_goes_on(
    mosquitto: Broker, reason: str, payload: bytes, good: int
) -> None:
    got: list[Sample] = []
    dead = MemoryDeadLetters()

    async def main() -> None:
        client = MqttClient(config(mosquitto), POINTS, got.append, Clock(T0), dead_letters=dead)
        await client.connect()
        device = Device(mosquitto.host, mosquitto.port)
        try:
            device.publish(TOPIC, payload)
            device.publish(TOPIC, batch(2, [sample("bat1.soc_pct", 42.0)]))
            await until(lambda: any(s.sequence == 2 for s in got), what="the good batch after")
            assert client.bad.counts.get(reason, 0) >= 1, client.bad.counts
        finally:
            device.close()
            await client.close()

    asyncio.run(main())
    assert len([s for s in got if s.sequence != 2]) == good
    assert dead.items, "the raw bytes must be kept"
    kind, source, why, raw, _ = dead.items[0]
    assert (kind, source) == ("mqtt-json", "mq")
    assert why.startswith(reason)
    assert raw == payload


def test_oversized_payload_and_unknown_topic(mosquitto: Broker) -> None:
    dead = MemoryDeadLetters()
    got: list[Sample] = []

    async def main() -> None:
        client = MqttClient(
            config(mosquitto, max_payload_bytes=200),
            POINTS,
            got.append,
            Clock(T0),
            dead_letters=dead,
        )
        await client.connect()
        device = Device(mosquitto.host, mosquitto.port)
        try:
            device.publish(TOPIC, b"x" * 5000)
            device.publish(f"gridaios/v1/{SITE}/bat1/telemetry/extra", b"{}")
            device.publish(f"gridaios/v1/{SITE}/bat1/status", b'{"v":1,"state":"sleepy"}')
            device.publish(TOPIC, batch(3, [sample("bat1.soc_pct", 42.0)]))
            await until(lambda: len(got) == 1 and len(dead.items) >= 2)
            assert client.bad.counts["oversized"] == 1
            assert client.bad.counts["wrong_type"] == 1  # the status with an unknown state
        finally:
            device.close()
            await client.close()

    asyncio.run(main())
    assert len(dead.items[0][3]) == 200  # kept up to the limit, not the whole flood


def test_write_waits_for_the_device_ack(mosquitto: Broker, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    target = WriteTarget(value_node="bat1.p_setpoint_kw", key_node="", applied_key_node="")

    def device_acks(dev: Device, topic: str, payload: bytes) -> None:
        cmd = json.loads(payload)
        dev.client.publish(
            f"gridaios/v1/{SITE}/bat1/ack",
            json.dumps({"v": 1, "key": cmd["key"], "status": "applied", "value": cmd["value"]}),
            qos=1,
        )

    async def main() -> None:
        client = MqttClient(
            config(mosquitto, spool_path=str(tmp_path / "spool.sqlite")),
            POINTS,
            None,
            lambda: datetime.now(UTC),
        )
        await client.connect()
        device = Device(mosquitto.host, mosquitto.port, subscribe=(f"gridaios/v1/{SITE}/bat1/cmd",))
        device.on_message = device_acks
        try:
            result = await client.write(approved("k-1", "bat1", 120.0, now), target)
            assert result.verified, result
            assert result.readback_value == 120.0
            cmd = json.loads(device.received[0][1])
            assert cmd["point"] == "bat1.p_setpoint_kw" and cmd["key"] == "k-1"
        finally:
            device.close()
            await client.close()

    asyncio.run(main())


def test_unacked_commands_survive_a_restart(mosquitto: Broker, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    spool = str(tmp_path / "spool.sqlite")
    target = WriteTarget(value_node="bat1.p_setpoint_kw", key_node="", applied_key_node="")

    async def first_run() -> None:
        client = MqttClient(config(mosquitto, spool_path=spool), POINTS, None, lambda: now)
        await client.connect()
        result = await client.write(
            approved("k-9", "bat1", -50.0, now), target, readback_timeout_s=0.2
        )
        assert not result.verified  # nobody acked
        await client.close()

    async def second_run() -> None:
        device = Device(mosquitto.host, mosquitto.port, subscribe=(f"gridaios/v1/{SITE}/bat1/cmd",))
        client = MqttClient(
            config(mosquitto, spool_path=spool, client_id="other"), POINTS, None, lambda: now
        )
        await client.connect()
        try:
            await asyncio.to_thread(device.wait_for, lambda r: len(r) >= 1)
            assert json.loads(device.received[0][1])["key"] == "k-9"
            device.publish(
                f"gridaios/v1/{SITE}/bat1/ack",
                json.dumps({"v": 1, "key": "k-9", "status": "applied", "value": -50.0}),
            )
            result = await client.write(approved("k-9", "bat1", -50.0, now), target)
            assert result.verified
        finally:
            device.close()
            await client.close()

    asyncio.run(first_run())
    asyncio.run(second_run())


def test_plain_mqtt_is_refused_unless_allowed() -> None:
    with pytest.raises(ValueError, match="allow_insecure"):
        MqttSourceConfig(id="x", host="127.0.0.1", site="s")


def test_unreachable_broker_is_not_ready() -> None:
    broker_port = free_port()

    async def main() -> None:
        cfg = MqttSourceConfig(
            id="x", host="127.0.0.1", port=broker_port, site="s", allow_insecure=True
        )
        client = MqttClient(cfg, POINTS, None, Clock(T0))
        with pytest.raises(ConnectorNotReady, match="cannot reach broker"):
            await client.connect()
        assert client.state is ConnectionState.FAILED

    asyncio.run(main())


def test_a_full_queue_holds_the_broker_back_and_loses_nothing(mosquitto: Broker) -> None:
    depths: list[int] = []
    seqs: list[int] = []

    async def main() -> None:
        client: MqttClient

        def slow_consumer(b: Batch) -> None:
            depths.append(client._queue.qsize())
            seqs.append(b.sequence)
            time.sleep(0.005)  # a consumer slower than the network

        client = MqttClient(
            config(mosquitto, queue_messages=2), POINTS, None, Clock(T0), on_batch=slow_consumer
        )
        await client.connect()
        device = Device(mosquitto.host, mosquitto.port)
        try:
            for seq in range(60):
                device.client.publish(TOPIC, batch(seq, [sample("bat1.p_kw", float(seq))]), qos=1)
            await until(lambda: len(seqs) == 60, 30, "all 60 batches")
        finally:
            device.close()
            await client.close()

    asyncio.run(main())
    assert seqs == list(range(60))
    assert max(depths) <= 2


def test_reconnects_after_the_broker_restarts(mosquitto: Broker) -> None:
    got: list[Sample] = []

    async def main() -> None:
        client = MqttClient(
            config(mosquitto, reconnect_min_s=0.1, reconnect_max_s=1), POINTS, got.append, Clock(T0)
        )
        await client.connect()
        try:
            await asyncio.to_thread(mosquitto.stop)
            await until(lambda: client.state is ConnectionState.RECONNECTING, what="loss seen")
            await asyncio.to_thread(mosquitto.start_again)
            await until(lambda: client.state is ConnectionState.CONNECTED, 30, "reconnected")
            device = Device(mosquitto.host, mosquitto.port)
            try:
                device.publish(TOPIC, batch(1, [sample("bat1.soc_pct", 33.0)]))
                await until(lambda: len(got) == 1, what="telemetry after the restart")
            finally:
                device.close()
        finally:
            await client.close()

    asyncio.run(main())
    assert got[0].value == 33.0


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_persistent_session_delivers_what_arrived_while_we_were_away(
    mosquitto: Broker, protocol: str
) -> None:
    got: list[Sample] = []

    async def main() -> None:
        cfg = config(mosquitto, protocol=protocol, client_id=f"persist-{protocol}")
        first = MqttClient(cfg, POINTS, None, Clock(T0))
        await first.connect()
        await first.close()
        device = Device(mosquitto.host, mosquitto.port)
        try:
            device.publish(TOPIC, batch(5, [sample("bat1.soc_pct", 55.0)]))
        finally:
            device.close()
        second = MqttClient(cfg, POINTS, got.append, Clock(T0))
        await second.connect()
        try:
            await until(lambda: len(got) == 1, what="the message queued by the broker")
        finally:
            await second.close()

    asyncio.run(main())
    assert got[0].value == 55.0

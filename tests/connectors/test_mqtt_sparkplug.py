"""Sparkplug B against a real mosquitto: births, aliases, seq/bdSeq, deaths, rebirth, DCMD."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime

import pytest

from connectors import MemoryDeadLetters, PointBinding, Sample, SampleQuality, WriteTarget
from connectors.mqtt import MqttClient, MqttSourceConfig
from connectors.mqtt import sparkplug_b_pb2 as pb
from tests.support.approved import approved
from tests.support.mosquitto import Broker
from tests.support.mqttdevice import Device
from tests.support.waiting import until

pytestmark = pytest.mark.integration

GROUP = "feeder"
POINTS = [
    PointBinding(point="bat1.soc_pct", node_id="edge1/bat1/soc_pct", unit="%"),
    PointBinding(point="bat1.p_kw", node_id="edge1/bat1/p_kw", unit="kW"),
    PointBinding(point="edge1.temp_c", node_id="edge1/temp_c", unit="degC"),
]
MS = int(datetime(2026, 7, 15, 18, 0, tzinfo=UTC).timestamp() * 1000)


def payload(seq: int, *metrics: dict[str, object]) -> bytes:
    message = pb.Payload(timestamp=MS, seq=seq)
    for m in metrics:
        metric = message.metrics.add()
        for key, value in m.items():
            setattr(metric, key, value)
    return message.SerializeToString()


def topic(kind: str, device: str | None = None) -> str:
    return f"spBv1.0/{GROUP}/{kind}/edge1" + (f"/{device}" if device else "")


def config(broker: Broker) -> MqttSourceConfig:
    return MqttSourceConfig(
        id="sp",
        host=broker.host,
        port=broker.port,
        site=GROUP,
        format="sparkplug_b",
        allow_insecure=True,
    )


def births(edge: Device, bd_seq: int = 0) -> None:
    edge.publish(
        topic("NBIRTH"),
        payload(
            0,
            {"name": "bdSeq", "datatype": pb.UInt64, "long_value": bd_seq},
            {"name": "temp_c", "alias": 1, "datatype": pb.Float, "float_value": 21.5},
        ),
    )
    edge.publish(
        topic("DBIRTH", "bat1"),
        payload(
            1,
            {"name": "soc_pct", "alias": 10, "datatype": pb.Double, "double_value": 80.0},
            {"name": "p_kw", "alias": 11, "datatype": pb.Int16, "int_value": 65531},  # -5
        ),
    )


def now() -> datetime:
    return datetime.now(UTC)


def test_births_aliases_and_data(mosquitto: Broker) -> None:
    got: list[Sample] = []

    async def main() -> None:
        client = MqttClient(config(mosquitto), POINTS, got.append, now)
        await client.connect()
        edge = Device(mosquitto.host, mosquitto.port, client_id="edge1")
        try:
            births(edge)
            edge.publish(
                topic("DDATA", "bat1"),
                payload(2, {"alias": 10, "double_value": 81.25, "timestamp": MS + 1000}),
            )
            await until(lambda: len(got) == 4, what="4 samples")
            assert client.device_states == {"edge1": "online", "edge1/bat1": "online"}
        finally:
            edge.close()
            await client.close()

    asyncio.run(main())
    values = {(s.point, s.value) for s in got}
    assert values == {
        ("edge1.temp_c", 21.5),
        ("bat1.soc_pct", 80.0),
        ("bat1.p_kw", -5.0),
        ("bat1.soc_pct", 81.25),
    }
    last = got[-1]
    assert last.source_ts == datetime.fromtimestamp((MS + 1000) / 1000, UTC)
    assert last.unit == "%"


def test_sequence_gap_and_unknown_alias_ask_for_a_rebirth(mosquitto: Broker) -> None:
    dead = MemoryDeadLetters()

    async def main() -> None:
        client = MqttClient(config(mosquitto), POINTS, None, now, dead_letters=dead)
        await client.connect()
        edge = Device(mosquitto.host, mosquitto.port, client_id="edge1", subscribe=(topic("NCMD"),))
        try:
            births(edge)
            edge.publish(topic("DDATA", "bat1"), payload(7, {"alias": 10, "double_value": 1.0}))
            await asyncio.to_thread(edge.wait_for, lambda r: len(r) >= 1)
            request = pb.Payload()
            request.ParseFromString(edge.received[0][1])
            assert request.metrics[0].name == "Node Control/Rebirth"
            assert request.metrics[0].boolean_value is True
            edge.publish(topic("DDATA", "bat1"), payload(8, {"alias": 99, "double_value": 1.0}))
            await until(lambda: client.bad.counts.get("unknown_alias", 0) == 1)
            edge.publish(topic("DDATA", "bat1"), b"\xff\xff not protobuf")
            await until(lambda: client.bad.counts.get("malformed_protobuf", 0) == 1)
        finally:
            edge.close()
            await client.close()

    asyncio.run(main())
    assert [d[2].split(":")[0] for d in dead.items] == ["unknown_alias", "malformed_protobuf"]
    assert dead.items[-1][3] == b"\xff\xff not protobuf"


def test_death_makes_points_bad_and_a_stale_death_is_ignored(mosquitto: Broker) -> None:
    got: list[Sample] = []

    async def main() -> None:
        client = MqttClient(config(mosquitto), POINTS, got.append, now)
        await client.connect()
        edge = Device(mosquitto.host, mosquitto.port, client_id="edge1")
        try:
            births(edge, bd_seq=3)
            await until(lambda: len(got) == 3)
            stale = payload(0, {"name": "bdSeq", "datatype": pb.UInt64, "long_value": 2})
            edge.publish(topic("NDEATH"), stale)
            death = payload(0, {"name": "bdSeq", "datatype": pb.UInt64, "long_value": 3})
            edge.publish(topic("NDEATH"), death)
            await until(lambda: client.device_states.get("edge1") == "offline")
            await until(lambda: len(got) == 6)
        finally:
            edge.close()
            await client.close()

    asyncio.run(main())
    dead = got[3:]
    assert {s.point for s in dead} == {"bat1.soc_pct", "bat1.p_kw", "edge1.temp_c"}
    assert all(s.quality is SampleQuality.BAD and math.isnan(s.value) for s in dead)


def test_dcmd_command_confirmed_by_the_device(mosquitto: Broker) -> None:
    def device_applies(dev: Device, t: str, body: bytes) -> None:
        cmd = pb.Payload()
        cmd.ParseFromString(body)
        values = {m.name: m for m in cmd.metrics}
        dev.client.publish(
            topic("DDATA", "bat1"),
            payload(
                2,
                {"name": "p_setpoint_kw", "double_value": values["p_setpoint_kw"].double_value},
                {
                    "name": "gridaios/cmd_key_applied",
                    "string_value": values["gridaios/cmd_key"].string_value,
                },
            ),
            qos=1,
        )

    async def main() -> None:
        points = [
            *POINTS,
            PointBinding(point="bat1.p_setpoint_kw", node_id="edge1/bat1/p_setpoint_kw", unit="kW"),
        ]
        client = MqttClient(config(mosquitto), points, None, now)
        await client.connect()
        edge = Device(
            mosquitto.host, mosquitto.port, client_id="edge1", subscribe=(topic("DCMD", "bat1"),)
        )
        edge.on_message = device_applies
        state = Device(
            mosquitto.host, mosquitto.port, client_id="watcher", subscribe=("spBv1.0/STATE/#",)
        )
        try:
            births(edge)
            target = WriteTarget(
                value_node="edge1/bat1/p_setpoint_kw", key_node="", applied_key_node=""
            )
            result = await client.write(approved("k-3", "bat1", 75.0, now()), target)
            assert result.verified, result
            await asyncio.to_thread(state.wait_for, lambda r: len(r) >= 1)
            assert json.loads(state.received[0][1])["online"] is True
        finally:
            edge.close()
            state.close()
            await client.close()

    asyncio.run(main())

"""The wire-format test vectors (firmware-bridge/test-vectors.json) run against the sides
other than the bridge: the runtime's MQTT connector (``JsonWire``), the virtual field's
MQTT face (commands in, acks out, over a real mosquitto) and its Modbus battery face.

Each side is run in the direction it speaks: the runtime decodes what a device encodes
(acks, status, telemetry) and encodes what a device decodes (commands, heartbeats); the
field decodes commands and answers Modbus requests like the bridge's emulated device.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from gridaios_wire import jsonv1

from connectors.badinput import BadInputReason
from connectors.mqtt.jsonwire import JsonWire
from connectors.mqtt.wire import Ack, DeviceState, Refused, Telemetry
from connectors.points import PointBinding
from tests.wire import modbus_raw

REPO = Path(__file__).resolve().parents[2]
VECTORS: dict[str, Any] = json.loads((REPO / "firmware-bridge" / "test-vectors.json").read_text())
SITE = "demo-feeder"
RECEIVED = datetime(2026, 7, 15, 18, 0, 1, tzinfo=UTC)


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["name"] for c in cases]


def _runtime_wire() -> JsonWire:
    points = [
        PointBinding(point=p, node_id=p, unit=u)
        for p, u in (("bat1.soc_pct", "%"), ("bat1.p_kw", "kW"), ("bat1.p_setpoint_kw", "kW"))
    ]
    return JsonWire("field-mqtt", SITE, points, max_batch=1000)


ENCODED = VECTORS["encode"]


@pytest.mark.parametrize("case", ENCODED, ids=_ids(ENCODED))
def test_the_runtime_connector_decodes_what_a_device_encodes(case: dict[str, Any]) -> None:
    wire, given = _runtime_wire(), case["input"]
    kind = case["kind"]
    device = given.get("device", "bat1")
    out = wire.decode(f"gridaios/v1/{SITE}/{device}/{kind}", case["wire"].encode(), RECEIVED)
    event = out.event
    if kind == "ack":
        assert event == Ack(given["key"], given["status"], given["value"], given["reason"])
    elif kind == "status":
        assert event == DeviceState("bat1", given["state"])
    else:
        assert isinstance(event, Telemetry) and event.batch is not None and not event.problems
        batch = event.batch
        assert batch.sequence == given["seq"]
        assert batch.points == [s["point"] for s in given["samples"]]
        assert batch.values == [s["value"] for s in given["samples"]]
        assert [q.value for q in batch.qualities] == [s["quality"] for s in given["samples"]]
        stamps = [jsonv1.parse_ts(s["ts"], "ts") for s in given["samples"]]
        assert batch.source_ts == stamps


def test_the_runtime_connector_refuses_a_bad_ack_with_the_reason() -> None:
    wire = _runtime_wire()
    topic = f"gridaios/v1/{SITE}/bat1/ack"
    bad = wire.decode(topic, b'{"v":1,"key":"k","status":"done"}', RECEIVED).event
    assert isinstance(bad, Refused) and bad.problem.reason is BadInputReason.WRONG_TYPE
    assert "status = 'done'" in bad.problem.detail
    junk = wire.decode(topic, b"ack!", RECEIVED).event
    assert isinstance(junk, Refused) and junk.problem.reason is BadInputReason.MALFORMED_JSON


VALID_COMMANDS = [c for c in VECTORS["decode_command"] if "expect" in c]


@pytest.mark.parametrize("case", VALID_COMMANDS, ids=_ids(VALID_COMMANDS))
def test_the_runtime_encodes_commands_a_device_decodes(case: dict[str, Any]) -> None:
    want = case["expect"]
    valid_until = jsonv1.parse_ts(want["valid_until"], "valid_until")
    sent = _runtime_wire().command(want["key"], want["point"], want["value"], valid_until)
    assert sent.topic == f"gridaios/v1/{SITE}/bat1/cmd" and not sent.retain
    got = jsonv1.decode_command(sent.payload)
    assert (got.key, got.point, got.value, got.valid_until) == (
        want["key"],
        want["point"],
        want["value"],
        valid_until,
    )


@pytest.mark.parametrize(
    "case", [c for c in VECTORS["decode_heartbeat"] if "expect" in c], ids=lambda c: c["name"]
)
def test_the_runtime_heartbeat_is_what_the_bridge_decodes(case: dict[str, Any]) -> None:
    want = case["expect"]
    sent = _runtime_wire().heartbeat(want["seq"], jsonv1.parse_ts(want["ts"], "ts"))
    assert sent is not None and sent.topic == f"gridaios/v1/{SITE}/runtime/heartbeat"
    assert jsonv1.decode_heartbeat(sent.payload) == jsonv1.decode_heartbeat(
        case["payload"].encode()
    )


# --- the virtual field -------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("case", VECTORS["modbus_replies"], ids=_ids(VECTORS["modbus_replies"]))
async def test_the_field_battery_face_answers_the_vector_replies(case: dict[str, Any]) -> None:
    from tests.simulator.test_modbusface import face

    async with face() as (device, _field, _clock):
        reply = await asyncio.to_thread(
            modbus_raw.exchange, device.port, case.get("unit", 1), case["request_pdu_hex"]
        )
    assert reply == case["reply_pdu_hex"]


@pytest.mark.integration
async def test_the_field_mqtt_face_decodes_the_command_vectors(mosquitto: Any) -> None:
    """Every decode_command vector sent to the field's bat1: valid ones are taken (applied,
    or expired where the scenario's clock is past their valid_until), bad ones are
    dead-lettered with the vector's reason and acked rejected only when their key could be
    read."""
    from simulator import load_scenario
    from tests.simulator.test_field import advance
    from tests.simulator.test_mqtt_field import SCENARIOS, served, wait_for

    sc = load_scenario("evening-peak", SCENARIOS)
    async with served(mosquitto, sc) as (field, mqtt_field, listener, clock):
        for n, case in enumerate(VECTORS["decode_command"], start=1):
            listener.send("bat1", case["payload"].encode())
            await wait_for(lambda n=n: mqtt_field.counts["commands"] >= n, case["name"])
            if "error" in case:
                assert case["error"] in mqtt_field.dead_letters[-1].reason, case["name"]
        await advance(field, clock, clock.now + timedelta(seconds=30))  # valid ones answered
        bad_with_key = [c["error_key"] for c in VECTORS["decode_command"] if c.get("error_key")]
        await wait_for(
            lambda: len(listener.on("ack", "bat1")) >= len(bad_with_key) + len(VALID_COMMANDS),
            "acks",
        )
        acks = {a["key"]: a for a in listener.on("ack", "bat1")}
        for key in bad_with_key:
            assert acks[key]["status"] == "rejected"
        for case in VALID_COMMANDS:
            assert acks[case["expect"]["key"]]["status"] in {"applied", "expired"}
        assert len(mqtt_field.dead_letters) == len(VECTORS["decode_command"]) - len(VALID_COMMANDS)

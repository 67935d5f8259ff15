"""The machine-readable test vectors (firmware-bridge/test-vectors.json, docs/wire-format.md),
run against the bridge: its decisions, its Modbus client's frames and its emulated device.
The runtime's and the simulator's sides run them in tests/wire/."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from gridaios_bridge import core
from gridaios_bridge.config import EmulatorConfig, FailsafeConfig, LimitsConfig
from gridaios_bridge.emulator import EmulatedInverter
from gridaios_bridge.modbus import ModbusClient
from gridaios_wire.jsonv1 import (
    Ack,
    Command,
    ProtocolError,
    Sample,
    decode_command,
    decode_heartbeat,
    encode_ack,
    encode_status,
    encode_telemetry,
    parse_ts,
)

from tests.wire import modbus_raw
from tests.wire.modbus_raw import raw_device

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "firmware-bridge" / "test-vectors.json").read_text()
)


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["name"] for c in cases]


@pytest.mark.parametrize("case", VECTORS["decode_command"], ids=_ids(VECTORS["decode_command"]))
def test_decode_command(case):
    payload = case["payload"].encode()
    if "error" in case:
        with pytest.raises(ProtocolError) as err:
            decode_command(payload)
        assert case["error"] in str(err.value)
        assert err.value.key == case["error_key"]
        return
    cmd = decode_command(payload)
    want = case["expect"]
    assert (cmd.key, cmd.point, cmd.value) == (want["key"], want["point"], want["value"])
    assert cmd.valid_until == parse_ts(want["valid_until"], "valid_until")


@pytest.mark.parametrize("case", VECTORS["decode_heartbeat"], ids=_ids(VECTORS["decode_heartbeat"]))
def test_decode_heartbeat(case):
    if "error" in case:
        with pytest.raises(ProtocolError, match=case["error"]):
            decode_heartbeat(case["payload"].encode())
        return
    hb = decode_heartbeat(case["payload"].encode())
    assert hb.seq == case["expect"]["seq"]
    assert hb.ts == parse_ts(case["expect"]["ts"], "ts")


@pytest.mark.parametrize("case", VECTORS["encode"], ids=_ids(VECTORS["encode"]))
def test_encode(case):
    i = case["input"]
    if case["kind"] == "ack":
        wire = encode_ack(
            Ack(
                key=i["key"],
                status=i["status"],
                value=i["value"],
                reason=i["reason"],
                ts=parse_ts(i["ts"], "ts"),
            )
        )
    elif case["kind"] == "status":
        wire = encode_status(
            i["state"], parse_ts(i["ts"], "ts"), i.get("reason", ""), i.get("heartbeat_age_s")
        )
    else:
        samples = [
            Sample(
                point=s["point"],
                value=s["value"],
                unit=s["unit"],
                ts=parse_ts(s["ts"], "ts"),
                quality=s["quality"],
            )
            for s in i["samples"]
        ]
        wire = encode_telemetry(i["device"], i["seq"], samples)
    assert wire == case["wire"].encode()


DECIDE = VECTORS["decide_command"]


@pytest.mark.parametrize("case", DECIDE["cases"], ids=_ids(DECIDE["cases"]))
def test_decide_command(case):
    c = DECIDE["config"]
    fs = FailsafeConfig(
        heartbeat_timeout_s=c["heartbeat_timeout_s"],
        safe_default_kw=c["safe_default_kw"],
        min_hold_s=c["min_hold_s"],
    )
    limits = LimitsConfig(min_kw=c["min_kw"], max_kw=c["max_kw"])
    now_s, now_utc = 1000.0, parse_ts(DECIDE["now_utc"], "now_utc")
    s = case["state"]
    held = (
        None
        if s["held_kw"] is None
        else core.DeviceOutput(setpoint_kw=s["held_kw"], safe_mode=s["mode"] == "failsafe")
    )
    state = replace(
        core.initial_state(now_s - s["heartbeat_age_s"], held, fs),
        mode=s["mode"],
        failsafe_since_s=now_s - s["failsafe_for_s"] if s["mode"] == "failsafe" else None,
        heartbeat_since_failsafe=s.get("heartbeat_since_failsafe", False),
    )
    k = case["command"]
    cmd = Command(
        key=k["key"],
        point=k.get("point", c["setpoint_point"]),
        value=k["value"],
        valid_until=parse_ts(k["valid_until"], "valid_until"),
    )
    new_state, decision = core.decide_command(
        state,
        cmd,
        setpoint_point=c["setpoint_point"],
        already_applied=case.get("already_applied", False),
        device_ok=case.get("device_ok", True),
        fs=fs,
        limits=limits,
        now_s=now_s,
        now_utc=now_utc,
    )
    want = case["expect"]
    assert decision.status == want["status"]
    assert decision.value_kw == want["value"]
    assert decision.apply is want["apply"]
    assert decision.reason == want["reason"]
    if want["apply"]:
        assert new_state.target_kw == want["value"]
        assert new_state.mode == want.get("mode_after", "normal")
    else:
        assert new_state == state


def test_the_bridge_client_sends_the_vector_frames():
    """The bridge's Modbus client (pymodbus) puts exactly the vector frames on the wire."""
    seen: list[bytes] = []
    with raw_device(seen) as port:
        client = ModbusClient("127.0.0.1", port, unit=1, timeout_s=2.0)
        try:
            for case in VECTORS["modbus_requests"]:
                if case["function"] == 3:
                    client.read_holding(case["address"], case["values"][0])
                elif case["function"] == 6:
                    client.write_single(case["address"], case["values"][0])
                else:
                    client.write_multiple(case["address"], case["values"])
        finally:
            client.close()
    assert [f.hex() for f in seen] == [c["frame_hex"] for c in VECTORS["modbus_requests"]]


@pytest.mark.parametrize("case", VECTORS["modbus_replies"], ids=_ids(VECTORS["modbus_replies"]))
def test_the_emulated_device_answers_the_vector_replies(case):
    device = EmulatedInverter(EmulatorConfig(), unit_id=1).start()
    try:
        reply = modbus_raw.exchange(device.port, case.get("unit", 1), case["request_pdu_hex"])
    finally:
        device.stop()
    assert reply == case["reply_pdu_hex"]


def test_failsafe_is_due_exactly_at_t_after_the_last_heartbeat():
    fs = FailsafeConfig(heartbeat_timeout_s=5.0, min_hold_s=30.0, safe_default_kw=-3.0)
    state = core.on_heartbeat(core.initial_state(0.0, None, fs), 12.0)
    assert core.failsafe_deadline_s(state, fs) == 17.0
    state = core.enter_failsafe(state, 17.0, fs)
    assert core.failsafe_deadline_s(state, fs) is None
    _, out = core.output(
        state,
        fs=fs,
        limits=LimitsConfig(min_kw=-10, max_kw=10, ramp_kw_per_s=0.001),
        now_s=17.0,
        now_utc=parse_ts("2026-07-15T18:00:00Z", "t"),
    )
    # The safe default is written at once, not ramped.
    assert out == core.DeviceOutput(setpoint_kw=-3.0, safe_mode=True)


def test_applied_setpoint_ramps_to_the_safe_default_after_valid_until():
    fs = FailsafeConfig(heartbeat_timeout_s=5.0, safe_default_kw=0.0)
    limits = LimitsConfig(min_kw=-100, max_kw=100, ramp_kw_per_s=10.0)
    t0 = parse_ts("2026-07-15T18:00:00Z", "t")
    state = core.initial_state(0.0, core.DeviceOutput(setpoint_kw=50.0, safe_mode=False), fs)
    state = replace(state, active_valid_until=t0 + timedelta(seconds=1))
    state, out = core.output(state, fs=fs, limits=limits, now_s=0.5, now_utc=t0)
    assert out.setpoint_kw == 50.0
    state = core.mark_written(state, out)
    state, out = core.output(
        state, fs=fs, limits=limits, now_s=1.5, now_utc=t0 + timedelta(seconds=2)
    )
    assert out.setpoint_kw == 40.0  # heading to 0 at 10 kW/s
    assert state.active_valid_until is None and state.target_kw == 0.0


def test_a_heartbeat_received_before_failsafe_began_does_not_count_as_fresh():
    fs = FailsafeConfig(heartbeat_timeout_s=5.0)
    state = core.enter_failsafe(core.initial_state(0.0, None, fs), 5.0, fs)
    late_handled = core.on_heartbeat(state, 4.99)  # received before, handled after entry
    assert not late_handled.heartbeat_since_failsafe
    assert late_handled.last_heartbeat_s == 4.99
    assert core.on_heartbeat(state, 5.01).heartbeat_since_failsafe

"""Bad input, an unreachable device, a device leaving safe mode: the bridge stays safe."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from gridaios_bridge import EmulatedInverter
from gridaios_bridge.config import EmulatorConfig
from gridaios_bridge.modbus import ModbusClient, ModbusError
from gridaios_wire import battery_map as r

from tests.firmware_bridge.harness import TOPICS, setpoint_writes, wait_until, write_config
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.integration


def _online(runtime):
    wait_until(lambda: any(s["state"] == "online" for s in runtime.statuses()), 15, "online")


def test_bad_payloads_are_nacked_dead_lettered_and_never_reach_the_device(
    runtime, bridge_config, bridges, device, tmp_path
):
    bridge = bridges(bridge_config(heartbeat_timeout_s=5.0))
    _online(runtime)
    runtime.start_heartbeats(0.2)
    bad = {
        "v": 1,
        "key": "bad-1",
        "point": "bat1.p_setpoint_kw",
        "value": "lots",
        "valid_until": "2030-01-01T00:00:00Z",
    }
    runtime.client.publish(TOPICS.cmd, json.dumps(bad), qos=1)
    runtime.client.publish(TOPICS.cmd, b"\xff\xfe not json", qos=1)
    runtime.client.publish(TOPICS.heartbeat, b'{"v": 1, "seq": "x"}', qos=1)
    runtime.command("wrong-point", 10.0, point="bat1.q_setpoint_kvar")
    nack = runtime.wait_ack("bad-1")[0]
    assert nack["status"] == "rejected" and "value = 'lots': must be a number" in nack["reason"]
    assert runtime.wait_ack("wrong-point")[0]["status"] == "rejected"
    dead_path = tmp_path / "state" / "deadletter.jsonl"
    wait_until(
        lambda: dead_path.exists() and len(dead_path.read_text().splitlines()) >= 3,
        10,
        "three dead letters",
    )
    dead = [json.loads(x) for x in dead_path.read_text().splitlines()]
    assert {d["topic"] for d in dead} == {TOPICS.cmd, TOPICS.heartbeat}
    assert any("not UTF-8 JSON" in d["error"] for d in dead)
    assert any('"value": "lots"' in d["raw"] for d in dead)  # raw input kept
    assert setpoint_writes(device) == []
    runtime.command("good", 5.0)
    assert runtime.wait_ack("good")[0]["status"] == "applied"
    assert bridge.alive()


def test_device_outage_no_stale_values_commands_refused_then_recovery(
    runtime, bridge_config, bridges, device
):
    port = device.port
    bridges(bridge_config(heartbeat_timeout_s=5.0))
    _online(runtime)
    runtime.start_heartbeats(0.2)
    wait_until(lambda: runtime.telemetry(), 10, "telemetry")
    device.stop()

    def points(t):
        return {s["point"]: s["value"] for s in t["samples"]}

    wait_until(
        lambda: any(points(t).get("bat1.bridge_device_ok") == 0.0 for t in runtime.telemetry()),
        10,
        "device_ok = 0 in telemetry",
    )
    down = [t for t in runtime.telemetry() if points(t).get("bat1.bridge_device_ok") == 0.0]
    assert all("bat1.soc_pct" not in points(t) for t in down)  # no stale values
    runtime.command("while-down", 20.0)
    nack = runtime.wait_ack("while-down")[0]
    assert nack["status"] == "rejected" and "device unreachable" in nack["reason"]

    back = EmulatedInverter(EmulatorConfig(response_time_s=0.1), port=port).start()
    try:
        wait_until(
            lambda: points(runtime.telemetry()[-1]).get("bat1.bridge_device_ok") == 1.0,
            15,
            "device back",
        )
        runtime.command("after", 20.0)
        assert runtime.wait_ack("after")[0]["status"] == "applied"
        assert back.reading().setpoint_kw == 20.0
    finally:
        back.stop()


def test_failsafe_puts_back_a_device_that_left_safe_mode(runtime, bridge_config, bridges, device):
    bridges(bridge_config(heartbeat_timeout_s=1.0, min_hold_s=60.0))
    wait_until(lambda: device.reading().safe_mode, 10, "fail-safe without heartbeats")
    client = ModbusClient(device.host, device.port)
    client.write_multiple(r.SETPOINT_KW_X10, r.encode_output(150.0, False, 0.0))  # local override
    client.close()
    wait_until(lambda: device.reading().safe_mode, 10, "bridge to restore safe mode")
    assert device.reading().setpoint_kw == 0.0


def test_emulate_device_cli_serves_the_register_map(tmp_path):
    port = free_port()
    config = write_config(
        tmp_path / "b.yaml", broker_port=1883, device_port=port, state_dir=tmp_path / "s"
    )
    args = ["-m", "gridaios_bridge", "emulate-device", "--config", str(config), "--log-json"]
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        client = ModbusClient("127.0.0.1", port, timeout_s=0.5)

        def read():
            try:
                return r.decode_reading(client.read_holding(0, r.REG_COUNT))
            except ModbusError:
                return None

        reading = wait_until(read, 15, "the emulated device to answer")
        assert reading.soc_pct == 80.0 and not reading.safe_mode
        client.close()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    logs = [json.loads(x) for x in out.decode().splitlines() if x.startswith("{")]
    assert any(x["level"] == "INFO" and "emulated inverter" in x["message"] for x in logs), out
    with pytest.raises(OSError):  # stopped on SIGTERM: nothing listens any more
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()


def test_retained_command_is_refused(runtime, bridge_config, bridges, device):
    body = {
        "v": 1,
        "key": "retained-1",
        "point": "bat1.p_setpoint_kw",
        "value": 70.0,
        "valid_until": "2099-01-01T00:00:00Z",
    }
    # Left on the broker before the bridge subscribes: delivered to it flagged retained.
    runtime.client.publish(TOPICS.cmd, json.dumps(body), qos=1, retain=True).wait_for_publish(5)
    runtime.start_heartbeats(0.2)
    bridges(bridge_config(heartbeat_timeout_s=5.0))
    nack = runtime.wait_ack("retained-1")[0]
    assert nack["status"] == "rejected" and "must not be retained" in nack["reason"], nack
    assert setpoint_writes(device) == []

"""Fail-safe with the real bridge process, the emulated inverter and a real mosquitto."""

from __future__ import annotations

import itertools
import json
import time

import pytest

from tests.firmware_bridge.harness import TOPICS, setpoint_writes, wait_until

pytestmark = pytest.mark.integration

T_S, CYCLE_S = 1.0, 0.2


def _online(runtime):
    wait_until(lambda: any(s["state"] == "online" for s in runtime.statuses()), 15, "online")


def test_comms_loss_reverts_to_safe_default_within_t_plus_one_cycle(
    runtime, bridge_config, bridges, device
):
    bridges(bridge_config(heartbeat_timeout_s=T_S, cycle_s=CYCLE_S, safe_default_kw=-5.0))
    _online(runtime)
    runtime.start_heartbeats(0.1)
    runtime.command("before-loss", 120.0)
    assert runtime.wait_ack("before-loss")[0]["status"] == "applied"
    wait_until(lambda: device.reading().measured_kw > 100, 10, "device delivering 120 kW")

    runtime.stop_heartbeats()
    last_heartbeat_sent_s = time.monotonic()

    status = wait_until(
        lambda: [s for s in runtime.statuses() if s["state"] == "failsafe"],
        10,
        "failsafe status",
    )[0]
    reading = device.reading()
    assert reading.safe_mode and reading.setpoint_kw == -5.0
    safe_writes = [w for w in device.writes if w.safe_mode]
    assert len(safe_writes) == 1
    print(f"fail-safe entered: heartbeat age {status['heartbeat_age_s']} s (bound {T_S + CYCLE_S})")
    # The bound, measured on the bridge's own clock: heartbeat receipt -> safe default
    # confirmed written to the device.
    assert status["heartbeat_age_s"] <= T_S + CYCLE_S, status
    assert status["heartbeat_age_s"] >= T_S, status
    # Cross-check on the (system-wide) monotonic clock: not entered before T.
    assert safe_writes[0].at - last_heartbeat_sent_s >= T_S - 0.05
    wait_until(lambda: abs(device.reading().measured_kw + 5.0) < 1.0, 10, "device at -5 kW")
    telemetry = runtime.telemetry()
    assert any(
        s["point"] == "bat1.bridge_failsafe" and s["value"] == 1.0
        for t in telemetry
        for s in t["samples"]
    )


def test_failsafe_holds_then_leaves_only_on_fresh_heartbeat_plus_new_command(
    runtime, bridge_config, bridges, device
):
    bridges(bridge_config(heartbeat_timeout_s=T_S, cycle_s=CYCLE_S, min_hold_s=1.5))
    _online(runtime)
    # No heartbeat at all: the bridge gives the runtime T from its start, then fails safe.
    wait_until(lambda: device.reading().safe_mode, 10, "safe mode")

    runtime.command("during-hold", 50.0)
    nack = runtime.wait_ack("during-hold")[0]
    assert nack["status"] == "rejected" and "minimum hold" in nack["reason"], nack

    # Hold over but no fresh heartbeat yet: still refused, with that reason.
    n = 0

    def refused_for_heartbeat():
        nonlocal n
        n += 1
        runtime.command(f"no-heartbeat-{n}", 50.0)
        ack = runtime.wait_ack(f"no-heartbeat-{n}")[0]
        assert ack["status"] == "rejected", ack
        return "fresh heartbeat" in ack["reason"]

    wait_until(refused_for_heartbeat, 10, "hold to end")
    assert device.reading().safe_mode
    assert setpoint_writes(device) == []

    runtime.start_heartbeats(0.1)
    # A key refused earlier is not "applied" in the ledger, but the runtime sends a new
    # command after the heartbeat is back: that one leaves fail-safe.
    wait_until(
        lambda: (
            (runtime.command("after-heartbeat", 50.0), True)
            and runtime.wait_ack("after-heartbeat")[-1]["status"] == "applied"
        ),
        10,
        "command applied after a fresh heartbeat",
    )
    reading = device.reading()
    assert not reading.safe_mode and reading.setpoint_kw == 50.0
    wait_until(lambda: runtime.statuses()[-1]["state"] == "online", 5, "online status again")


def test_command_past_valid_until_is_never_applied(runtime, bridge_config, bridges, device):
    bridges(bridge_config(heartbeat_timeout_s=T_S, cycle_s=CYCLE_S))
    _online(runtime)
    runtime.start_heartbeats(0.1)
    runtime.command("stale", 90.0, valid_for_s=-1.0)
    nack = runtime.wait_ack("stale")[0]
    assert nack["status"] == "expired" and "never applied" in nack["reason"], nack
    runtime.command("fresh", 30.0)
    assert runtime.wait_ack("fresh")[0]["status"] == "applied"
    assert setpoint_writes(device) == [30.0]


def test_retained_heartbeat_does_not_keep_the_bridge_alive(
    mosquitto, runtime, bridge_config, bridges, device
):
    body = json.dumps({"v": 1, "seq": 1, "ts": "2026-01-01T00:00:00Z"})
    runtime.client.publish(TOPICS.heartbeat, body, qos=1, retain=True).wait_for_publish(5)
    bridges(bridge_config(heartbeat_timeout_s=T_S, cycle_s=CYCLE_S))
    wait_until(lambda: device.reading().safe_mode, 10, "safe mode despite a retained heartbeat")


def test_local_limits_clamp_and_ramp(runtime, bridge_config, bridges, device):
    bridges(bridge_config(heartbeat_timeout_s=5.0, cycle_s=CYCLE_S, ramp_kw_per_s=100.0))
    _online(runtime)
    runtime.start_heartbeats(0.1)
    runtime.command("too-big", 500.0)
    ack = runtime.wait_ack("too-big")[0]
    assert ack["status"] == "applied" and ack["value"] == 200.0, ack
    assert "clamped" in ack["reason"] and "max_kw" in ack["reason"]
    wait_until(lambda: device.reading().setpoint_kw == 200.0, 15, "ramp to reach 200 kW")
    writes = setpoint_writes(device)
    assert len(writes) >= 5, writes  # 200 kW at 100 kW/s in 0.2 s cycles: ramped
    assert writes == sorted(writes) and max(writes) == 200.0
    # Each step at most ramp x the time between the writes, as the device saw them
    # (50 ms allowed for the write's own latency, 0.1 kW for the register resolution).
    recs = [w for w in device.writes if not w.safe_mode]
    for prev, cur in itertools.pairwise(recs):
        allowed_kw = 100.0 * (cur.at - prev.at + 0.05) + 0.1
        assert cur.setpoint_kw - prev.setpoint_kw <= allowed_kw, (prev, cur)

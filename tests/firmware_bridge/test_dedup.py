"""Deduplication by command key: one apply, also across a SIGKILL and restart."""

from __future__ import annotations

import json

import pytest

from tests.firmware_bridge.harness import setpoint_writes, wait_until

pytestmark = pytest.mark.integration


def _online(runtime):
    wait_until(lambda: any(s["state"] == "online" for s in runtime.statuses()), 15, "online")


def test_duplicate_command_is_applied_once(runtime, bridge_config, bridges, device):
    bridges(bridge_config(heartbeat_timeout_s=5.0))
    _online(runtime)
    runtime.start_heartbeats(0.2)
    runtime.command("dup-1", 40.0)
    assert runtime.wait_ack("dup-1")[0]["status"] == "applied"
    runtime.command("dup-1", 40.0)
    runtime.command("dup-1", 99.0)  # same key, other value: still the first one stands
    acks = runtime.wait_ack("dup-1", count=3)
    assert [a["status"] for a in acks] == ["applied", "duplicate", "duplicate"]
    assert acks[1]["value"] == 40.0 and acks[2]["value"] == 40.0
    assert setpoint_writes(device) == [40.0]
    assert device.reading().setpoint_writes == 1


def test_sigkill_and_restart_never_reapplies(runtime, bridge_config, bridges, device, tmp_path):
    config = bridge_config(heartbeat_timeout_s=5.0)
    first = bridges(config)
    _online(runtime)
    runtime.start_heartbeats(0.2)
    runtime.command("kill-1", 60.0)
    assert runtime.wait_ack("kill-1")[0]["status"] == "applied"
    assert setpoint_writes(device) == [60.0]

    first.kill9()
    # The device moved meanwhile (someone at the site set it by hand): a re-apply of
    # kill-1 would show as a write of 60 kW.
    device.regs[0] = 250  # 25.0 kW
    second = bridges(config)
    wait_until(lambda: len(runtime.statuses()) >= 3, 15, "the restarted bridge's status")
    runtime.command("kill-1", 60.0)
    acks = runtime.wait_ack("kill-1", count=2)
    assert acks[1]["status"] == "duplicate", acks
    assert acks[1]["value"] == 25.0  # what the device holds
    assert setpoint_writes(device) == [60.0]
    assert device.reading().setpoint_kw == 25.0
    # A new key is still applied by the restarted bridge.
    runtime.command("kill-2", 10.0)
    assert runtime.wait_ack("kill-2")[0]["status"] == "applied"
    assert setpoint_writes(device) == [60.0, 10.0]
    assert second.alive()
    ledger = [json.loads(x) for x in (tmp_path / "state" / "ledger.jsonl").read_text().split()]
    assert [e["key"] for e in ledger] == ["kill-1", "kill-2"]

from __future__ import annotations

import pytest

from tests.firmware_bridge.harness import setpoint_writes, wait_until

pytestmark = pytest.mark.integration


def test_command_applied_and_telemetry_flows(runtime, bridge_config, bridges, device):
    bridge = bridges(bridge_config())
    wait_until(lambda: any(s["state"] == "online" for s in runtime.statuses()), 15, "online status")
    runtime.start_heartbeats()
    runtime.command("k-1", 75.0)
    ack = runtime.wait_ack("k-1")[0]
    assert ack["status"] == "applied", ack
    assert ack["value"] == 75.0
    wait_until(lambda: device.reading().setpoint_kw == 75.0, 5, "device setpoint 75 kW")
    assert setpoint_writes(device) == [75.0]
    wait_until(lambda: len(runtime.telemetry()) >= 3, 10, "telemetry")
    assert bridge.alive(), bridge.log_text()
    last = runtime.telemetry()[-1]
    assert last["device"] == "bat1" and {s["point"] for s in last["samples"]} >= {
        "bat1.p_kw",
        "bat1.soc_pct",
        "bat1.p_setpoint_kw",
        "bat1.bridge_failsafe",
    }
    # Small memory: the running bridge (Python + paho + the bridge) stays well under 64 MiB.
    rss_kb = bridge.rss_kb()
    print(f"bridge RSS: {rss_kb} kB")
    assert rss_kb < 64 * 1024, rss_kb
    bridge.stop()  # SIGTERM: a clean stop says so on the retained status topic
    wait_until(lambda: runtime.statuses()[-1]["state"] == "offline", 10, "offline status")
    assert runtime.statuses()[-1]["reason"] == "bridge stopped"

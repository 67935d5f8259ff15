from __future__ import annotations

import pytest

from tests.firmware_bridge.harness import TOPICS, setpoint_writes, wait_until

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
    assert TOPICS.telemetry

"""``gridaios probe`` on a monitoring-only site (no policy): every bad point and write
target listed, and its MQTT session never disturbs the live site's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.mosquitto import Broker
from tests.support.mqttdevice import Device
from tests.support.nodedevice import NodeDevice

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# No feeder, policy or approvals: a site that only watches its devices yet.
CONFIG = """
site: {{id: mon}}
sources:
  - {{id: a, type: opcua, endpoint: "{endpoint}", allow_insecure: true}}
  - {{id: b, type: opcua, endpoint: "{endpoint}", allow_insecure: true}}
  - {{id: bus, type: mqtt, host: 127.0.0.1, port: {mqtt_port}, site: mon, allow_insecure: true}}
assets:
  - id: pv1
    type: pv
    rated_kw: 100
    points:
      p_kw: {{source: a, node: "ns=1;s=BESS1.NoSuchPower", unit: kW}}
  - id: pv2
    type: pv
    rated_kw: 100
    points:
      p_kw: {{source: a, node: "/Objects/1:BESS1/1:Nothing", unit: kW}}
  - id: pv3
    type: pv
    rated_kw: 100
    points:
      p_kw: {{source: bus, node: pv3.p_kw, unit: kW}}
  - id: bat1
    type: battery
    capacity_kwh: 500
    max_charge_kw: 250
    max_discharge_kw: 250
    soc_min_pct: 5
    soc_max_pct: 95
    points:
      soc_pct: {{source: b, node: "ns=1;s=BESS1.StateOfCharge", unit: "%"}}
      p_kw: {{source: b, node: "ns=1;s=BESS1.OperatingState", unit: kW}}
      p_setpoint_kw: {{source: b, node: "ns=1;s=BESS1.MaxDischargePower", unit: kW,
                      writable: true}}
  - id: bat2
    type: battery
    capacity_kwh: 500
    max_charge_kw: 250
    max_discharge_kw: 250
    soc_min_pct: 5
    soc_max_pct: 95
    points:
      soc_pct: {{source: b, node: "ns=1;s=BESS1.StateOfCharge", unit: "%"}}
      p_kw: {{source: b, node: "ns=1;s=BESS1.ActivePower", unit: kW}}
      p_setpoint_kw: {{source: b, node: "ns=1;s=BESS1.ActivePowerSetpoint", unit: kW,
                      writable: true}}
"""


def test_probe_lists_every_bad_point_and_leaves_the_site_session_alone(
    mosquitto: Broker, tmp_path: Path
) -> None:
    with NodeDevice("battery") as device:
        config = tmp_path / "site.yaml"
        config.write_text(CONFIG.format(endpoint=device.endpoint, mqtt_port=mosquitto.port))
        # the live site's own session (the runtime's client id), listening for any status
        site = Device(
            mosquitto.host,
            mosquitto.port,
            client_id="gridaios-mon-bus",
            subscribe=("gridaios/v1/mon/runtime/#",),
        )
        drops: list[Any] = []
        site.client.on_disconnect = lambda *a: drops.append(a)
        try:
            gridaios = str(Path(sys.executable).parent / "gridaios")
            done = subprocess.run(
                [gridaios, "probe", str(config), "--seconds", "1"],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            received = list(site.received)
            dropped = list(drops)  # before our own goodbye below
        finally:
            site.close()
    err = done.stderr
    assert done.returncode == 1, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("source ")]
    (unknown,) = [ln for ln in lines if ln.startswith("source a: UNKNOWN NODE")]
    assert "/Objects/1:BESS1/1:Nothing for point pv2.p_kw" in unknown  # both, in one line
    assert "ns=1;s=BESS1.NoSuchPower" in err
    (status,) = [ln for ln in lines if "BAD POINT bat1.p_kw" in ln]
    assert "Int32 without EngineeringUnits" in status
    (target,) = [ln for ln in lines if "BAD WRITE TARGET" in ln]
    assert "bat1.p_setpoint_kw" in target and "not writable" in target
    assert not any("bat2" in ln for ln in lines)  # the Float setpoint is a good target
    assert "2/3 source(s) connected, 2 bad point(s)" in err
    assert dropped == [], "the probe took over the site's MQTT session"
    assert received == [], "the probe spoke for the runtime"

"""``gridaios run`` starts with the sources it has: an OPC UA server and the broker down at
start, the health file degraded (never ok) while they are, both picked up when they come."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.mosquitto import running_broker
from tests.support.nodedevice import NodeDevice

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SITE = """
site: {{id: partial, name: partial start}}
feeder: {{meter: substation, transformer_rating_kw: 5000}}
sources:
  - {{id: bess, type: opcua, endpoint: "{bess}", allow_insecure: true,
     publishing_interval_ms: 50, freshness: link, keepalive_s: 0.5}}
  - {{id: pvmon, type: opcua, endpoint: "{pvmon}", allow_insecure: true, timeout_s: 1,
     freshness: link, keepalive_s: 0.5, reconnect_min_s: 0.2, reconnect_max_s: 1}}
  - {{id: bus, type: mqtt, host: 127.0.0.1, port: {mqtt_port}, site: partial,
     allow_insecure: true, client_id: partial-site}}
assets:
  - id: substation
    type: meter
    points:
      p_kw: {{source: bus, node: substation.p_kw, unit: kW}}
  - id: pv1
    type: pv
    rated_kw: 400
    points:
      p_kw: {{source: pvmon, node: "ns=1;s=Meter.ActivePower", unit: kW}}
  - id: bat1
    type: battery
    capacity_kwh: 500
    max_charge_kw: 250
    max_discharge_kw: 250
    soc_min_pct: 5
    soc_max_pct: 95
    points:
      soc_pct: {{source: bess, node: "ns=1;s=BESS1.StateOfCharge", unit: "%"}}
      p_kw: {{source: bess, node: "ns=1;s=BESS1.ActivePower", unit: kW}}
      p_setpoint_kw: {{source: bess, node: "ns=1;s=BESS1.ActivePowerSetpoint", unit: kW,
                      writable: true}}
policy:
  peak_shaving: {{battery: bat1, threshold_kw: 1100}}
approvals: {{auto_approve_max_kw: 1000, two_person_min_kw: 1000}}
safety: {{policies: {{limit.max: clamp}}}}
"""


def _wait(
    what: str, check: Callable[[], bool], timeout_s: float, proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"gridaios run exited ({proc.returncode}) waiting for {what}"
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def _health(path: Path) -> dict[str, object]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def test_run_starts_with_an_opc_ua_server_and_the_broker_down(tmp_path: Path) -> None:
    with NodeDevice("battery") as bess, running_broker(tmp_path / "mq") as broker:
        broker.stop()  # the broker is down at start
        pvmon = NodeDevice("meter", args=("--meter-kw", "120"))  # down at start
        config = tmp_path / "site.yaml"
        config.write_text(
            SITE.format(bess=bess.endpoint, pvmon=pvmon.endpoint, mqtt_port=broker.port)
        )
        health = tmp_path / "health.json"
        gridaios = str(Path(sys.executable).parent / "gridaios")
        cmd = [gridaios, "run", "--config", str(config), "--db", str(tmp_path / "events.db")]
        cmd += ["--health-file", str(health)]
        log = (tmp_path / "run.log").open("wb")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
        try:
            _wait(
                "a degraded health file",
                lambda: _health(health).get("sources_down") == ["bus", "pvmon"],
                60,
                proc,
            )
            seen = _health(health)
            assert seen["status"] == "degraded", seen
            assert seen["assets_unavailable"] == ["pv1", "substation"], seen
            time.sleep(3)  # still running, still not ok
            assert proc.poll() is None
            assert _health(health)["status"] == "degraded"
            pvmon.start()
            broker.start_again()
            _wait("both sources up", lambda: _health(health).get("sources_down") == [], 60, proc)
            assert _health(health)["status"] == "ok", _health(health)
            # an outage while running: degraded again, then ok again
            pvmon.kill()
            _wait("pvmon down", lambda: _health(health).get("sources_down") == ["pvmon"], 30, proc)
            assert _health(health)["status"] == "degraded"
            pvmon.start()
            _wait("pvmon back", lambda: _health(health).get("status") == "ok", 60, proc)
        finally:
            pvmon.stop()
            proc.terminate()
            proc.wait(30)
            log.close()
    text = (tmp_path / "run.log").read_text(errors="replace")
    # (asyncua's own watchdog logs a traceback when a server vanishes: its logger, not ours)
    assert "service conductor failed" not in text and "gave up" not in text, text[-3000:]
    assert "source pvmon is down at start" in text and "source bus is down at start" in text

"""``gridaios probe`` against a real OPC UA server and a real broker; ``gridaios dlq list``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runtime.cli import main
from runtime.log.deadletter import DeadLetterStore
from tests.support.mosquitto import Broker, free_port
from tests.support.mqttdevice import Device

pytestmark = pytest.mark.integration

CONFIG = """
site: {{id: demo-feeder}}
feeder: {{meter: m, transformer_rating_kw: 1000}}
sources:
  - {{id: ua, type: opcua, endpoint: "{endpoint}", allow_insecure: true}}
  - {{id: mq, type: mqtt, host: 127.0.0.1, port: {mqtt_port}, site: demo-feeder,
      allow_insecure: true}}
  - {{id: gone, type: opcua, endpoint: "opc.tcp://127.0.0.1:{dead_port}/x",
      allow_insecure: true, timeout_s: 1}}
assets:
  - id: bat1
    type: battery
    capacity_kwh: 500
    max_charge_kw: 250
    max_discharge_kw: 250
    soc_min_pct: 10
    soc_max_pct: 95
    points:
      soc_pct: {{source: ua, node: "ns=2;s=bat1.soc_pct"}}
      p_kw: {{source: mq, node: bat1.p_kw, unit: kW}}
      p_setpoint_kw: {{source: ua, node: "ns=2;s=bat1.p_setpoint_kw", writable: true}}
      cmd_key: {{source: ua, node: "ns=2;s=bat1.cmd_key", writable: true}}
      cmd_key_applied: {{source: gone, node: "ns=2;s=bat1.cmd_key"}}
  - id: m
    type: meter
    points:
      p_kw: {{source: mq, node: m.p_kw, unit: kW}}
policy: {{peak_shaving: {{battery: bat1, threshold_kw: 900}}}}
approvals: {{auto_approve_max_kw: 100, two_person_min_kw: 200}}
"""


def test_probe_prints_samples_and_one_clear_error_per_failed_source(
    mosquitto: Broker, tmp_path: Path
) -> None:
    ua_port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.opcuaserver", str(ua_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    info = {"endpoint": f"opc.tcp://127.0.0.1:{ua_port}/gridaios/test"}
    config = tmp_path / "site.yaml"
    config.write_text(
        CONFIG.format(endpoint=info["endpoint"], mqtt_port=mosquitto.port, dead_port=free_port())
    )
    device = Device(mosquitto.host, mosquitto.port)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gridaios"), "probe", str(config), "--seconds", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = {
            "v": 1,
            "device": "bat1",
            "seq": 1,
            "samples": [
                {"point": "bat1.p_kw", "value": -12.0, "ts": datetime.now(UTC).isoformat()}
            ],
        }
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            device.publish_json("gridaios/v1/demo-feeder/bat1/telemetry", body)
            body["seq"] = int(body["seq"]) + 1  # type: ignore[call-overload]
            time.sleep(0.2)
        out, err = process.communicate(timeout=30)
    finally:
        device.close()
        server.terminate()
        server.wait(10)
    assert process.returncode == 1, err
    rows = [json.loads(line) for line in out.splitlines()]
    soc = [r for r in rows if r["source"] == "ua" and r["point"] == "bat1.soc_pct"]
    assert soc and soc[0]["value"] == 64.5, (out, err)
    assert any(
        r["point"] == "bat1.p_kw" and r["value"] == -12.0 and r["unit"] == "kW" for r in rows
    )
    assert set(rows[0]) == {"source", "point", "value", "unit", "quality", "ts"}
    errors = [line for line in err.splitlines() if line.startswith("source ")]
    assert len(errors) == 1 and errors[0].startswith("source gone: UNREACHABLE"), err
    assert "2/3 source(s) connected" in err


def test_dlq_list_shows_raw_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "dl.db"
    store = DeadLetterStore(db)
    ident = store.put("mqtt-json", "mq", "malformed_json: not JSON", b'{"v": 1,', datetime.now(UTC))
    store.close()
    assert main(["dlq", "--dlq", str(db), "list", "--json"]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["id"] == ident and row["source"] == "mq"
    assert bytes.fromhex(row["payload_hex"]) == b'{"v": 1,'
    assert main(["dlq", "--dlq", str(db), "list"]) == 0
    assert "malformed_json: not JSON" in capsys.readouterr().out
    assert main(["dlq", "--dlq", str(tmp_path / "none.db"), "list"]) == 2

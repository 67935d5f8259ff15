"""``gridaios browse`` on a server nobody here wrote (node-opcua, its own namespace)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.nodedevice import NodeDevice

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _browse(*args: str) -> subprocess.CompletedProcess[str]:
    gridaios = str(Path(sys.executable).parent / "gridaios")
    return subprocess.run(
        [gridaios, "browse", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_browse_lists_node_ids_types_access_and_units() -> None:
    with NodeDevice("battery") as device:
        done = _browse(device.endpoint, "/Objects/1:BESS1", "--json")
        missing = _browse(device.endpoint, "/Objects/1:Nope")
    assert done.returncode == 0, done.stderr
    rows = {r["node_id"]: r for r in map(json.loads, done.stdout.splitlines())}
    setpoint = rows["ns=1;s=BESS1.ActivePowerSetpoint"]
    assert setpoint["path"] == "/Objects/1:BESS1/1:ActivePowerSetpoint"
    assert (setpoint["data_type"], setpoint["access"], setpoint["unit"]) == ("Float", "rw", "kW")
    power = rows["ns=1;s=BESS1.ActivePower"]
    assert (power["data_type"], power["access"]) == ("Float", "r")
    assert rows["ns=1;s=BESS1.OperatingState"]["data_type"] == "Int32"
    assert rows["ns=1;s=BESS1.OperatingState"]["unit"] == ""
    assert rows["ns=1;s=BESS1.StateOfCharge"]["unit"] == "%"
    assert not any("EURange" in r["path"] for r in rows.values())  # properties folded in
    assert missing.returncode == 1
    assert "/Objects/1:Nope does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr

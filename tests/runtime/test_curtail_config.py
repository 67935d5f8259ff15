"""Curtailment in the config: a curtailable load's curtail_pct is writable, over OPC UA;
the conductor's agents route curtail proposals and still name what they cannot send."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.config import site
from runtime.config.model import parse_config
from runtime.core.errors import ConfigError
from runtime.decide.policy import Proposal
from safety import Command, CommandKind, Origin
from tests.runtime.agents.support import T0, conductor, demo_raw, snapshot

REPO = Path(__file__).resolve().parents[2]


def _errors(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(yaml.safe_dump(raw), "configs/x.yaml")
    return [issue.render("configs/x.yaml") for issue in info.value.issues]


def test_a_curtailable_load_with_a_read_only_curtail_pct_is_refused() -> None:
    raw = demo_raw()
    raw["assets"][3]["points"]["curtail_pct"]["writable"] = False
    (error,) = _errors(raw)
    assert error.startswith("configs/x.yaml: assets[3].points.curtail_pct.writable = false")
    assert "set writable: true" in error and "critical: true" in error


def test_a_critical_load_may_have_a_read_only_curtail_pct() -> None:
    raw = demo_raw()
    raw["assets"][3]["points"]["curtail_pct"]["writable"] = False
    raw["assets"][3]["critical"] = True
    parse_config(yaml.safe_dump(raw), "configs/x.yaml")


def test_writable_curtailment_off_opcua_is_refused() -> None:
    raw = demo_raw()
    raw["sources"].append(
        {
            "id": "bus",
            "type": "mqtt",
            "host": "127.0.0.1",
            "port": 1883,
            "site": "demo-feeder",
            "allow_insecure": True,
        }
    )
    raw["assets"][2]["points"]["curtail_pct"]["source"] = "bus"
    (error,) = _errors(raw)
    assert "assets[2].points.curtail_pct.source = bus" in error
    assert "written over OPC UA only" in error


def test_check_config_names_the_point_and_the_fix(tmp_path: Path) -> None:
    raw = demo_raw()
    raw["assets"][3]["points"]["curtail_pct"]["writable"] = False
    bad = tmp_path / "site.yaml"
    bad.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "check-config", str(bad)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 2
    assert "assets[3].points.curtail_pct.writable = false" in result.stderr


def test_curtail_kw_is_what_the_approval_thresholds_compare() -> None:
    cfg = parse_config(yaml.safe_dump(demo_raw()), "x.yaml")
    state = snapshot({"load1.p_kw": 120.0, "load1.curtail_pct": 40.0})
    assert site.curtail_kw(cfg, "pv1", 30.0, state) == pytest.approx(120.0)  # 400 kW rated
    # 120 kW running at 60 %: 200 kW uncurtailed; 40 % of it
    assert site.curtail_kw(cfg, "load1", 40.0, state) == pytest.approx(80.0)
    assert site.curtail_kw(cfg, "load1", 40.0, snapshot({})) is None  # unknown: an operator


async def test_a_kind_the_conductor_cannot_send_is_still_not_handled_with_the_reason(
    tmp_path: Path,
) -> None:
    c, _clock, events = conductor(tmp_path, parse_config(yaml.safe_dump(demo_raw()), "x.yaml"))
    command = Command(
        key="k-switch",
        asset="load1",
        kind=CommandKind.SWITCH,
        value=0.0,
        start=T0,
        end=T0.replace(hour=19),
        origin=Origin.AGENT,
    )
    reason = c.agents._unroutable(Proposal(command=command, policy="x", rationale="", inputs={}))
    assert reason.startswith("load1 switch: the conductor sends battery active power and PV")
    curtail = Command(
        key="k-curtail",
        asset="load1",
        kind=CommandKind.CURTAIL_PCT,
        value=10.0,
        start=T0,
        end=T0.replace(hour=19),
        origin=Origin.AGENT,
    )
    proposal = Proposal(command=curtail, policy="x", rationale="", inputs={})
    assert c.agents._unroutable(proposal) == ""
    events.close()

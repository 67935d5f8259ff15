"""The site YAML declares every constraint; bad ones are refused as `file: path = value: rule`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from runtime.config import site
from runtime.config.model import parse_config
from runtime.core.errors import ConfigError
from safety import CommandKind, Policy

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo-feeder.yaml"


def _raw() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(DEMO.read_text(encoding="utf-8"))


def _errors(raw: dict) -> list[str]:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as info:
        parse_config(yaml.safe_dump(raw), "site.yaml")
    return [issue.render(info.value.file) for issue in info.value.issues]


def test_demo_config_declares_the_envelope() -> None:
    env = site.envelope(parse_config(DEMO.read_text(encoding="utf-8"), str(DEMO)))
    bat = env.assets["bat1"]
    assert bat.ranges[CommandKind.ACTIVE_POWER_KW].max_value == 250
    assert bat.ramps[CommandKind.ACTIVE_POWER_KW].per_min == 200
    assert bat.rate_limit is not None and bat.rate_limit.max_commands == 12
    assert bat.battery is not None and bat.battery.capacity_kwh == 500
    assert env.feeders["feeder"].rating_kw == 1600
    assert env.feeders["feeder"].meter_point == "substation.p_kw"
    assert env.buses["feeder_end"].assumed_pu == 1.0
    assert bat.voltage_pu_per_kw == {"feeder_end": 0.000036}
    assert [w.id for w in env.assets["load1"].time_windows] == ["overnight-defrost"]
    assert env.assets["substation"].ranges == {}
    assert env.policy("ramp") is Policy.CLAMP
    assert env.policy("thermal.feeder") is Policy.REJECT
    assert env.policy("interlock.maintenance") is Policy.REJECT
    assert env.max_duration == timedelta(hours=4)


def test_allowlist_follows_writable_points_and_critical_loads_get_a_window() -> None:
    raw = _raw()
    raw["assets"][2]["points"]["curtail_pct"]["writable"] = False
    raw["assets"][3]["critical"] = True
    env = site.envelope(parse_config(yaml.safe_dump(raw), "site.yaml"))
    assert CommandKind.CURTAIL_PCT not in env.assets["pv1"].ranges
    windows = {w.id: w for w in env.assets["load1"].time_windows}
    assert windows["critical_load"].kinds == {CommandKind.CURTAIL_PCT, CommandKind.SWITCH}


def _set(raw: dict, path: str, value: object) -> dict:  # type: ignore[type-arg]
    node = raw
    *parents, last = path.split("/")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = value
    return raw


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "safety/policies/interlock",
            "clamp",
            "site.yaml: safety.policies.interlock = clamp: a interlock constraint cannot be "
            "clamped (no value satisfies it); use reject",
        ),
        (
            "safety/policies/speed",
            "reject",
            "site.yaml: safety.policies.speed = reject: unknown constraint; known: ",
        ),
        ("safety/timezone", "Mars/Olympus", "site.yaml: safety.timezone = Mars/Olympus: unknown"),
        (
            "assets/1/limits/voltage_pu_per_kw",
            {"nowhere": 0.1},
            "site.yaml: assets[1].limits.voltage_pu_per_kw.nowhere = nowhere: unknown bus; known: "
            "feeder_end",
        ),
        (
            "assets/1/limits/interlocks",
            [{"id": "maintenance", "point": "maint", "active_when": 1, "reason": "maintenance"}],
            "site.yaml: assets[1].limits.interlocks[0].point = maint: not a point of bat1",
        ),
        (
            "assets/1/limits/ramp_kw_per_min",
            -5,
            "site.yaml: assets[1].limits.ramp_kw_per_min = -5: must be > 0",
        ),
        (
            "assets/3/limits/time_windows",
            [{"id": "w", "kinds": ["curtail_pct"], "start": "25:00"}],
            "site.yaml: assets[3].limits.time_windows[0].start = 25:00: String should match",
        ),
        (
            "safety/buses",
            [{"id": "b", "point": "bat1.soc_pct", "assumed_pu": 1.0}],
            "site.yaml: safety.buses[0] = {...}: give exactly one of point (measured) or "
            "assumed_pu",
        ),
        (
            "safety/buses",
            [{"id": "b", "point": "bat1.v_pu"}],
            "site.yaml: safety.buses[0].point = bat1.v_pu: unknown point; use asset.role",
        ),
        (
            "assets/1/points/q_setpoint_kvar",
            {"source": "field", "node": "ns=2;s=bat1.q", "writable": True},
            "site.yaml: assets[1].limits.max_reactive_kvar: required when q_setpoint_kvar is "
            "writable",
        ),
        (
            "assets/1/limits/rate_limit",
            {"max_commands": 0, "window_s": 60},
            "site.yaml: assets[1].limits.rate_limit.max_commands = 0: must be >= 1",
        ),
        (
            "assets/1/points/soc_pct/max_age_s",
            0,
            "site.yaml: assets[1].points.soc_pct.max_age_s = 0: must be > 0",
        ),
    ],
)
def test_bad_declarations_are_refused_with_field_value_and_rule(
    path: str, value: object, message: str
) -> None:
    errors = _errors(_set(_raw(), path, value))
    assert any(e.startswith(message) for e in errors), errors

"""``voltage_pu_per_kw: computed``: the gate's coefficients from the site's own network."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.cli import main
from runtime.config import site
from runtime.config.model import load_config, parse_config
from runtime.core.errors import ConfigError
from safety import Command, CommandKind, Origin, Quality, Reading, StateSnapshot, evaluate
from simulator import load_network
from simulator.sensitivity import voltage_sensitivities
from tests.safety.harness import T0

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
DEMO = CONFIGS / "demo-feeder.yaml"
NETWORK = CONFIGS / "networks" / "demo-feeder.yaml"


def _raw() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    raw["feeder"]["network"] = str(NETWORK)
    for asset in raw["assets"]:
        if "voltage_pu_per_kw" in asset.get("limits", {}):
            asset["limits"]["voltage_pu_per_kw"] = "computed"
    return raw


def _write(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _issues(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [issue.render(info.value.file) for issue in info.value.issues]


def test_computed_coefficients_are_the_network_sensitivities(tmp_path: Path) -> None:
    raw = _raw()
    raw["assets"][1]["limits"]["voltage_pu_per_kvar"] = "computed"
    env = site.envelope(load_config(_write(tmp_path, raw)))
    sens = voltage_sensitivities(load_network(NETWORK))
    for asset in ("bat1", "pv1", "load1"):
        assert env.assets[asset].voltage_pu_per_kw == {"feeder_end": sens.per_kw(asset, "n4")}
    assert env.assets["bat1"].voltage_pu_per_kvar == {"feeder_end": sens.per_kvar("bat1", "n4")}
    assert env.assets["substation"].voltage_pu_per_kw == {}


def test_the_gate_rejects_with_the_computed_coefficient(tmp_path: Path) -> None:
    raw = _raw()
    raw["safety"]["buses"][0]["assumed_pu"] = 1.045  # 200 kW x 3.6e-5 pu/kW: over 1.05
    env = site.envelope(load_config(_write(tmp_path, raw)))
    points = {"substation.p_kw": 900.0, "bat1.p_kw": 0.0, "bat1.soc_pct": 60.0, "pv1.p_kw": 0.0}
    state = StateSnapshot(
        readings={
            p: Reading(point=p, value=v, ts=T0, quality=Quality.GOOD) for p, v in points.items()
        }
    )

    def discharge(kw: float) -> str:
        command = Command(
            key=f"k{kw:g}",
            asset="bat1",
            kind=CommandKind.ACTIVE_POWER_KW,
            value=kw,
            start=T0,
            end=T0 + timedelta(minutes=15),
            origin=Origin.OPERATOR,
        )
        (verdict,) = evaluate([command], state, env, T0)
        return f"{verdict.outcome} {' '.join(h.constraint for h in verdict.hits)}".strip()

    assert discharge(100.0) == "accepted"  # 1.045 + 0.0036 pu
    assert discharge(200.0) == "rejected voltage.feeder_end"  # 1.045 + 0.0072 pu


def test_computed_needs_a_network(tmp_path: Path) -> None:
    raw = _raw()
    del raw["feeder"]["network"]
    with pytest.raises(ConfigError) as info:
        parse_config(yaml.safe_dump(raw), "site.yaml")
    assert (
        "site.yaml: assets[1].limits.voltage_pu_per_kw = computed: needs feeder.network (the "
        "power flow it is computed from); give the network or declare {bus: pu per unit} per bus"
    ) in [i.render("site.yaml") for i in info.value.issues]


def test_a_safety_bus_the_network_lacks_is_named(tmp_path: Path) -> None:
    raw = _raw()
    raw["safety"]["buses"][0]["network_bus"] = "n9"
    path = _write(tmp_path, raw)
    assert _issues(path) == [
        f"{path}: safety.buses[0].network_bus = n9: not a bus of network demo-feeder; name the "
        "bus this limit watches (known: grid, sub, n1, n2, n3, n4, n5, n6)"
    ]


def test_an_asset_the_network_lacks_is_named(tmp_path: Path) -> None:
    raw = _raw()
    raw["assets"][0]["limits"] = {"voltage_pu_per_kw": "computed"}  # the meter
    path = _write(tmp_path, raw)
    assert _issues(path) == [
        f"{path}: assets[0].limits.voltage_pu_per_kw = computed: network demo-feeder has no PV, "
        "battery or flexible load substation; add it to the network or declare "
        "{bus: pu per unit} per bus"
    ]


def test_parsed_text_cannot_hand_the_gate_an_uncomputed_table() -> None:
    config = parse_config(yaml.safe_dump(_raw()), "site.yaml")
    with pytest.raises(ConfigError, match=r"computed from feeder\.network when the config is"):
        site.envelope(config)


def test_cli_compares_declared_and_computed_with_the_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = _raw()
    raw["assets"][2]["limits"]["voltage_pu_per_kw"] = {"feeder_end": 0.0001}  # pv1: 4x too big
    path = _write(tmp_path, raw)
    assert main(["sim", "sensitivities", "--config", str(path), "--json"]) == 0
    rows = {r["asset"]: r for r in json.loads(capsys.readouterr().out)["coefficients"]}
    assert rows["bat1"]["how"] == "computed" and rows["bat1"]["value"] == rows["bat1"]["network"]
    assert rows["pv1"]["how"] == "declared" and rows["pv1"]["strays"] is True
    assert rows["load1"]["strays"] is False and rows["load1"]["network_bus"] == "n4"
    assert main(["sim", "sensitivities", "--config", str(path)]) == 0
    assert "pv1" in capsys.readouterr().out.split("strays from the network")[0].splitlines()[-1]


def test_cli_network_matrix_and_bad_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "sensitivities", "--network", str(NETWORK), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["assets"]) == {"bat1", "pv1", "load1"}
    assert out["assets"]["bat1"]["pu_per_kw"]["n4"] > 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("network: {name: x}\n", encoding="utf-8")
    assert main(["sim", "sensitivities", "--network", str(bad)]) == 2
    assert "error:" in capsys.readouterr().err

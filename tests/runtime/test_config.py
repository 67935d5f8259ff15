from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runtime.config.model import load_config, parse_config
from runtime.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "configs" / "demo-feeder.yaml"


def _demo_text() -> str:
    return DEMO.read_text()


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "configs/x.yaml")
    return [issue.render("configs/x.yaml") for issue in info.value.issues]


def test_demo_config_loads() -> None:
    config = load_config(DEMO)
    assert config.site.id == "demo-feeder"
    assert {a.type for a in config.assets} == {"meter", "battery", "pv", "curtailable_load"}
    assert config.battery("bat1").max_discharge_kw == 250


def test_negative_limit_names_file_field_value_and_rule() -> None:
    text = _demo_text().replace("max_discharge_kw: 250", "max_discharge_kw: -5")
    assert _errors(text) == ["configs/x.yaml: assets[1].max_discharge_kw = -5: must be >= 0"]


def test_unknown_key_is_named() -> None:
    text = _demo_text().replace("capacity_kwh: 500", "capacity_kwh: 500\n    colour: blue")
    assert _errors(text) == [
        "configs/x.yaml: assets[1].colour = blue: unknown key; remove it or check its spelling"
    ]


def test_unknown_top_level_section_is_named() -> None:
    errors = _errors(_demo_text() + "\nextras: {a: 1}\n")
    assert errors == [
        "configs/x.yaml: extras = {...}: unknown key; remove it or check its spelling"
    ]


def test_missing_required_field() -> None:
    text = _demo_text().replace("  transformer_rating_kw: 1600\n", "")
    assert _errors(text) == [
        "configs/x.yaml: feeder.transformer_rating_kw: required field is missing"
    ]


def test_soc_window_must_be_ordered() -> None:
    text = _demo_text().replace("soc_min_pct: 10", "soc_min_pct: 96")
    (error,) = _errors(text)
    assert error.startswith("configs/x.yaml: assets[1]")
    assert "soc_min_pct (96) must be below soc_max_pct (95)" in error


def test_battery_without_required_point() -> None:
    lines = [ln for ln in _demo_text().splitlines() if "cmd_key_applied:" not in ln]
    (error,) = _errors("\n".join(lines))
    assert "points cmd_key_applied are required for a battery" in error


def test_reference_to_unknown_source_and_wrong_asset_types() -> None:
    text = (
        _demo_text()
        .replace("soc_pct:         {source: field", "soc_pct:         {source: plc9")
        .replace("meter: substation", "meter: bat1")
    )
    errors = _errors(text)
    assert (
        "configs/x.yaml: assets[1].points.soc_pct.source = plc9: unknown source; known: field"
        in errors
    )
    assert "configs/x.yaml: feeder.meter = bat1: must name an asset of type meter" in errors


def test_insecure_endpoint_needs_explicit_opt_in() -> None:
    text = _demo_text().replace("    allow_insecure: true", "    allow_insecure: false")
    (error,) = _errors(text)
    assert error.startswith("configs/x.yaml: sources[0]")
    assert "allow_insecure: true" in error


def test_yaml_syntax_error_names_line() -> None:
    (error,) = _errors("site: {id: x\nfeeder: [")
    assert error.startswith("configs/x.yaml: line ")
    assert "YAML syntax error" in error


def test_approval_thresholds_must_be_ordered() -> None:
    text = _demo_text().replace("two_person_min_kw: 200", "two_person_min_kw: 50")
    (error,) = _errors(text)
    assert "two_person_min_kw (50) must be >= auto_approve_max_kw (100)" in error


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )


def test_check_config_cli_ok() -> None:
    result = _cli("check-config", "configs/demo-feeder.yaml")
    assert result.returncode == 0, result.stderr
    assert "configs/demo-feeder.yaml: OK" in result.stdout
    assert "1 battery" in result.stdout


def test_check_config_cli_bad_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text(_demo_text().replace("max_discharge_kw: 250", "max_discharge_kw: -5"))
    result = _cli("check-config", str(bad))
    assert result.returncode == 2
    assert f"{bad}: assets[1].max_discharge_kw = -5: must be >= 0" in result.stderr


def test_check_config_cli_missing_file_exits_2(tmp_path: Path) -> None:
    result = _cli("check-config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_standard_control_node_ids_and_the_limit_default_are_stated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from runtime.cli import main

    lines = [ln for ln in _demo_text().splitlines() if "cmd_key" not in ln]
    text = "\n".join(lines).replace("    limit.max: clamp\n", "")
    text = text.replace("unit: kW, writable: true}", "unit: kW, writable: true, data_type: Float}")
    site = DEMO.parent / f".check-{tmp_path.name}.yaml"  # beside its network file
    site.write_text(text)
    try:
        assert main(["check-config", str(site)]) == 0
    finally:
        site.unlink()
    out = capsys.readouterr().out
    assert "control     bat1: standard setpoint in Float, confirmed by read-back" in out
    assert "freshness   field: device_time" in out
    assert "set safety.policies.limit.max: clamp to dispatch at the limit" in out
    bad = text.replace('node: "ns=2;s=bat1.p_kw"', 'node: "ns=2;bat1.p_kw"')
    (error,) = _errors(bad)
    assert "assets[1].points.p_kw.node" in error and "not an OPC UA node id" in error

"""Config: YAML (PyYAML) and JSON, and refusals that name the field and the fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from gridaios_bridge.config import ConfigError, load_config, loads

EXAMPLE = Path(__file__).parents[2] / "firmware-bridge" / "examples" / "bat1.yaml"


def run_bridge(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridaios_bridge", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_example_config_loads():
    text = EXAMPLE.read_text()
    assert loads(text, source="x") == yaml.safe_load(text)
    cfg = load_config(EXAMPLE)
    assert cfg.site == "demo-feeder" and cfg.setpoint_point == "bat1.p_setpoint_kw"
    assert cfg.failsafe.heartbeat_timeout_s == 5.0 and cfg.limits.max_kw == 250.0
    assert cfg.state_dir == EXAMPLE.parent / "../.state/bat1"


@pytest.mark.parametrize("name", ["pv-sunspec.yaml", "meter-registers.yaml"])
def test_the_device_map_examples_load(name):
    cfg = load_config(EXAMPLE.parent / name)
    assert cfg.device_map.map in {"sunspec", "registers"}


def test_json_config_is_accepted(tmp_path):
    data = loads(EXAMPLE.read_text(), source="x")
    path = tmp_path / "bridge.json"
    path.write_text(json.dumps(data))
    assert load_config(path).limits == load_config(EXAMPLE).limits


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a:\n\tb: 1\n", "x.yaml:2: not valid YAML"),
        ('a: "open\n', "x.yaml:2: not valid YAML"),
        ("- 1\n- 2\n", "x.yaml: the bridge config must be a mapping of sections, not list"),
        ("a: 1\n b: 2\n", "x.yaml:2: not valid YAML"),
    ],
)
def test_syntax_errors_name_the_file_and_line(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        loads(text, source="x.yaml")
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_a_syntax_error_exits_2_with_one_line(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text("site: s\n\tdevice: d\n")
    proc = run_bridge(path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not valid YAML" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("limits", "max_kw", "'big'"), "limits.max_kw = 'big': must be a number"),
        (("limits", "min_kw", "300"), "min_kw must be <= max_kw"),
        (("failsafe", "heartbeat_timeout_s", "0"), "failsafe.heartbeat_timeout_s = 0"),
        (("mqtt", "port", "70000"), "mqtt.port = 70000"),
        (("failsafe", "safe_defualt_kw", "1"), "unknown key failsafe.safe_defualt_kw"),
    ],
)
def test_bad_values_are_refused_with_field_and_fix(tmp_path, change, message):
    data = loads(EXAMPLE.read_text(), source="x")
    section, key, raw = change
    data[section][key] = yaml.safe_load(f"x: {raw}")["x"]
    path = tmp_path / "bridge.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_config(path)


def test_missing_required_field(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text("site: s\ndevice: d\nstate_dir: st\n")
    with pytest.raises(ConfigError, match="limits is required; add it"):
        load_config(path)


def test_cli_refuses_a_bad_config_with_exit_2(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text("site: s\ndevice: d/x\nstate_dir: st\nlimits:\n  min_kw: 0\n  max_kw: 1\n")
    proc = run_bridge(path)
    assert proc.returncode == 2
    assert "device = 'd/x'" in proc.stderr

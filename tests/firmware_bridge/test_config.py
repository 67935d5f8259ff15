"""Config: the YAML subset loader, JSON, and refusals that name the field and the fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from gridaios_bridge.config import ConfigError, load_config
from gridaios_bridge.miniyaml import ConfigSyntaxError, loads

EXAMPLE = Path(__file__).parents[2] / "firmware-bridge" / "examples" / "bat1.yaml"


def test_example_config_loads_and_matches_a_full_yaml_parser():
    text = EXAMPLE.read_text()
    assert loads(text) == yaml.safe_load(text)
    cfg = load_config(EXAMPLE)
    assert cfg.site == "demo-feeder" and cfg.setpoint_point == "bat1.p_setpoint_kw"
    assert cfg.failsafe.heartbeat_timeout_s == 5.0 and cfg.limits.max_kw == 250.0
    assert cfg.state_dir == EXAMPLE.parent / "../.state/bat1"


def test_json_config_is_accepted(tmp_path):
    data = loads(EXAMPLE.read_text())
    path = tmp_path / "bridge.json"
    path.write_text(json.dumps(data))
    assert load_config(path).limits == load_config(EXAMPLE).limits


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a:\n  - 1\n", "lists are not supported"),
        ("a: [1, 2]\n", "flow collections"),
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("a:\n\tb: 1\n", "tab in indentation"),
        ("a: 1\n   b: 2\n", "unexpected indentation"),
        ("just text\n", "expected `key: value`"),
        ('a: "open\n', "unterminated string"),
    ],
)
def test_subset_refusals_name_the_line(text, message):
    with pytest.raises(ConfigSyntaxError, match=message) as err:
        loads(text, "x.yaml")
    assert str(err.value).startswith("x.yaml:")


def test_scalars_and_comments():
    text = (
        "a: 1   # one\nb: -2.5e+1\nc: 'it''s # not a comment'\n"
        'd: "x\\ty"\ne: ~\nf: true\ng: plain text\n'
    )
    assert loads(text) == yaml.safe_load(text)


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
    data = loads(EXAMPLE.read_text())
    section, key, raw = change
    data[section][key] = loads(f"x: {raw}")["x"]
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
    proc = subprocess.run(
        [sys.executable, "-m", "gridaios_bridge", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "device = 'd/x'" in proc.stderr

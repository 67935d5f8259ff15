"""The hierarchy block of a site config and the controller's config: refused clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runtime.config.model import load_controller_config, parse_config
from runtime.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
DEMO = (REPO / "configs" / "demo-feeder.yaml").read_text()
CONTROLLER = REPO / "configs" / "controller.yaml"

SITE_BLOCK = """
hierarchy:
  broker: {host: 127.0.0.1, port: 1883, allow_insecure: true}
  controller_timeout_s: 20
  known_models: {forecast: [persistence]}
"""


def _site_errors(block: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(DEMO + block, "site.yaml")
    return [issue.render("site.yaml") for issue in info.value.issues]


def _controller_errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "controller.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_controller_config(path)
    return [issue.render("c.yaml") for issue in info.value.issues]


def test_a_site_with_a_hierarchy_block_loads() -> None:
    config = parse_config(DEMO + SITE_BLOCK)
    assert config.hierarchy is not None
    assert config.hierarchy.role == "conductor"
    assert config.hierarchy.controller_timeout_s == 20
    assert config.hierarchy.known_policies == ["peak_shaving"]


def test_a_site_without_the_block_runs_alone() -> None:
    assert parse_config(DEMO).hierarchy is None


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            SITE_BLOCK.replace("controller_timeout_s: 20", "controller_timeout_s: 0"),
            "site.yaml: hierarchy.controller_timeout_s = 0: must be > 0",
        ),
        (
            SITE_BLOCK.replace("controller_timeout_s: 20", "controller_timout_s: 20"),
            "site.yaml: hierarchy.controller_timout_s = 20: unknown key; remove it or check "
            "its spelling",
        ),
        (
            SITE_BLOCK.replace(", allow_insecure: true", ""),
            "site.yaml: hierarchy.broker = {...}: plain MQTT carries caps and policy pushes "
            "in clear text; configure tls (ca_file, cert_file, key_file) or set "
            "allow_insecure: true to accept that",
        ),
        (
            SITE_BLOCK + "  role: controller\n",
            "site.yaml: hierarchy.role = controller: this is a controller config: run it with "
            "`gridaios run --role controller`",
        ),
        (
            SITE_BLOCK + "  site: north/feeder\n",
            "site.yaml: hierarchy.site = north/feeder: String should match pattern "
            "'^[A-Za-z0-9_.-]+$'",
        ),
    ],
    ids=["timeout", "typo", "plain mqtt", "controller role", "topic-unsafe site"],
)
def test_a_bad_site_block_names_field_value_and_fix(block: str, expected: str) -> None:
    assert _site_errors(block) == [expected]


def test_the_example_controller_config_loads() -> None:
    config = load_controller_config(CONTROLLER).hierarchy
    assert config.sites == ["north-feeder", "south-feeder"]
    assert config.feeder_cap_kw == 2000
    assert config.policy is not None and config.policy.models == {"forecast": "persistence"}


BASE = CONTROLLER.read_text()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "feeder_cap_kw: 2000",
            "feeder_cap_kw: -1",
            "c.yaml: hierarchy.feeder_cap_kw = -1: must be > 0",
        ),
        (
            "cap_valid_s: 180",
            "cap_valid_s: 30",
            "c.yaml: hierarchy = {...}: cap_valid_s (30) must be > cadence_s (60), or every cap "
            "expires before the next one arrives",
        ),
        (
            "sites: [north-feeder, south-feeder]",
            "sites: [north-feeder, north-feeder]",
            "c.yaml: hierarchy = {...}: sites: north-feeder listed more than once",
        ),
        (
            "sites: [north-feeder, south-feeder]",
            "sites: [north-feeder, controller]",
            "c.yaml: hierarchy = {...}: sites: 'controller' cannot be a topic segment; use "
            "letters, digits, '_', '.', '-' (and not 'controller')",
        ),
        (
            "  heartbeat_s: 5",
            "  heartbeat_s: 5\n  site_policies: {east: {policy: peak_shaving}}",
            "c.yaml: hierarchy = {...}: site_policies: east not in sites",
        ),
        (
            "feeder_cap_kw: 2000",
            "feeder_cap: 2000",
            "c.yaml: hierarchy.feeder_cap = 2000: unknown key; remove it or check its spelling",
        ),
    ],
    ids=["negative cap", "caps expire", "duplicate site", "reserved id", "unknown site", "typo"],
)
def test_a_bad_controller_config_names_field_value_and_fix(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in BASE
    assert expected in _controller_errors(tmp_path, BASE.replace(old, new))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def test_check_config_reads_a_controller_config() -> None:
    result = _cli("check-config", "configs/controller.yaml")
    assert result.returncode == 0, result.stderr
    assert "controller  controller (role controller)" in result.stdout
    assert "sites       2: north-feeder, south-feeder" in result.stdout
    assert "feeder cap  2000 kW" in result.stdout


def test_check_config_refuses_a_bad_controller_config(tmp_path: Path) -> None:
    bad = tmp_path / "controller.yaml"
    bad.write_text(BASE.replace("feeder_cap_kw: 2000", "feeder_cap_kw: 0"))
    result = _cli("check-config", str(bad))
    assert result.returncode == 2
    assert f"{bad}: hierarchy.feeder_cap_kw = 0: must be > 0" in result.stderr


def test_run_refuses_a_site_config_as_a_controller(tmp_path: Path) -> None:
    result = _cli("run", "--role", "controller", "--config", "configs/demo-feeder.yaml")
    assert result.returncode == 2
    assert "hierarchy: required field is missing" in result.stderr


def test_run_refuses_to_start_without_the_broker_password(tmp_path: Path) -> None:
    config = tmp_path / "controller.yaml"
    config.write_text(
        BASE.replace(
            "    allow_insecure: true",
            "    allow_insecure: true\n    username: ctl\n    password_env: GRIDAIOS_TEST_UNSET_PW",
        )
    )
    result = _cli(
        "run", "--role", "controller", "--config", str(config), "--db", str(tmp_path / "c.db")
    )
    assert result.returncode == 2, result.stderr
    assert "password_env GRIDAIOS_TEST_UNSET_PW is not set in the environment" in result.stderr

"""The site config's openadr section: one-line errors naming field, value and rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.config.model import parse_config
from runtime.core.errors import ConfigError

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo-feeder.yaml"
SECTION = """
openadr:
  vtn_url: http://127.0.0.1:8080/OpenADR2/Simple/2.0b
  ven_id: ven-demo
  ven_name: demo-feeder
  programs:
    - name: oadr://utility/summer-peak
      baseline: {method: high_x_of_y, x: 10, y: 10, adjust_hours: 2}
      opt_in_default: opt_in
      response_deadline_s: 600
      thresholds: {max_auto_kw: 100, max_auto_kwh: 200}
"""


def _errors(section: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(DEMO.read_text() + section, "configs/x.yaml")
    return [issue.render("configs/x.yaml") for issue in info.value.issues]


def test_a_valid_section_loads() -> None:
    config = parse_config(DEMO.read_text() + SECTION, "configs/x.yaml")
    assert config.openadr is not None
    program = config.openadr.program("oadr://utility/summer-peak")
    assert program is not None and program.opt_in_default == "opt_in"
    assert program.baseline.x == 10


def test_bad_values_name_field_value_and_rule() -> None:
    assert _errors(SECTION.replace("x: 10, y: 10", "x: 12, y: 10")) == [
        "configs/x.yaml: openadr.programs[0].baseline = {...}: x = 12 must be <= y = 10 "
        "(high X of Y days)"
    ]
    assert _errors(SECTION.replace("response_deadline_s: 600", "response_deadline_s: -1")) == [
        "configs/x.yaml: openadr.programs[0].response_deadline_s = -1: must be > 0"
    ]
    errors = _errors(SECTION.replace("opt_in_default: opt_in", "opt_in_default: maybe"))
    assert errors[0].startswith("configs/x.yaml: openadr.programs[0].opt_in_default = maybe:")


def test_https_needs_tls_and_a_pinned_fingerprint() -> None:
    https = SECTION.replace("http://", "https://")
    assert "needs tls" in _errors(https)[0]
    tls = https.replace(
        "  programs:", "  tls: {ca_file: ca.pem, cert: ven.pem, key: ven-key.pem}\n  programs:"
    )
    assert "pin the VTN: set vtn_fingerprint" in _errors(tls)[0]
    pinned = tls.replace("  programs:", "  vtn_fingerprint: 'AB:CD'\n  programs:")
    assert "10 hex bytes" in _errors(pinned)[0]


def test_references_are_checked() -> None:
    text = SECTION.replace(
        "baseline: {method: high_x_of_y, x: 10, y: 10, adjust_hours: 2}",
        "baseline: {method: temperature_regression, temperature_point: weather.t_c}",
    )
    assert _errors(text) == [
        "configs/x.yaml: openadr.programs[0].baseline.temperature_point = weather.t_c: "
        "no such point (asset.role) in assets"
    ]
    off = DEMO.read_text().replace(
        "  dr_events:\n    enabled: true", "  dr_events:\n    enabled: false"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(off + SECTION, "configs/x.yaml")
    assert "set agents.dr_events.enabled: true" in str(info.value)

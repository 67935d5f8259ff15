"""The site config's openadr section: one-line errors naming field, value and rule."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runtime.config.load import load_config, parse_config
from runtime.core.errors import ConfigError
from tests.support.pki import tls_pki

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo-feeder.yaml"
SECTION = """
openadr:
  vtn_url: http://127.0.0.1:8080/OpenADR2/Simple/2.0b
  ven_id: ven-demo
  ven_name: demo-feeder
  allow_insecure: true
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


def test_plain_http_without_a_pinned_vtn_must_be_allowed_explicitly() -> None:
    """No vtn_fingerprint: nothing the VTN sends is signature-checked; refused unless the
    site says allow_insecure: true."""
    assert _errors(SECTION.replace("  allow_insecure: true\n", "")) == [
        "configs/x.yaml: openadr.allow_insecure = false: no vtn_fingerprint: the VTN's "
        "signatures are not checked and whoever answers at "
        "http://127.0.0.1:8080/OpenADR2/Simple/2.0b controls DR events; pin the VTN (https, "
        "tls, vtn_fingerprint) or set allow_insecure: true to accept that"
    ]
    pinned = SECTION.replace(
        "  allow_insecure: true\n", "  vtn_fingerprint: 'AB:CD:EF:01:23:45:67:89:AB:CD'\n"
    )
    assert parse_config(DEMO.read_text() + pinned, "configs/x.yaml").openadr is not None


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


def _tls_section(port: int = 8443) -> str:
    return SECTION.replace("http://127.0.0.1:8080", f"https://127.0.0.1:{port}").replace(
        "  programs:",
        "  vtn_fingerprint: '3D:4B:00:11:22:33:44:55:66:77'\n"
        "  tls: {ca_file: ca.pem, cert: ven.pem, key: ven-key.pem}\n  programs:",
    )


def _file_errors(folder: Path, section: str) -> list[str]:
    site = folder / "site.yaml"
    if not (folder / "networks").exists():
        shutil.copytree(DEMO.parent / "networks", folder / "networks")
    site.write_text(DEMO.read_text() + section)
    with pytest.raises(ConfigError) as info:
        load_config(site)
    return [issue.render("site.yaml") for issue in info.value.issues]


def test_certificate_files_that_are_not_pem_or_do_not_pair_are_issues(tmp_path: Path) -> None:
    """check-config said OK for tls files that exist but hold no certificate or key, or a
    key of another certificate: the VEN then failed at start, retrying every 10 s."""
    pki = tls_pki(tmp_path / "pki")
    for name in ("ca.pem", "ven.pem", "ven-key.pem"):
        (tmp_path / name).write_text("not a PEM file\n")
    errors = _file_errors(tmp_path, _tls_section())
    assert any("openadr.tls.ca_file = ca.pem" in e and "PEM" in e for e in errors), errors
    assert any("openadr.tls.cert = ven.pem" in e for e in errors), errors
    shutil.copy(pki.ca.cert, tmp_path / "ca.pem")
    shutil.copy(pki.client.cert, tmp_path / "ven.pem")
    shutil.copy(pki.server.key, tmp_path / "ven-key.pem")  # the wrong certificate's key
    errors = _file_errors(tmp_path, _tls_section())
    assert len(errors) == 1 and "openadr.tls.key = ven-key.pem" in errors[0], errors
    shutil.copy(pki.client.key, tmp_path / "ven-key.pem")
    (tmp_path / "site.yaml").write_text(DEMO.read_text() + _tls_section())
    assert load_config(tmp_path / "site.yaml").openadr is not None


def test_a_vtn_url_with_an_impossible_port_is_an_issue() -> None:
    errors = _errors(SECTION.replace("127.0.0.1:8080", "127.0.0.1:99999"))
    assert len(errors) == 1 and "port" in errors[0], errors

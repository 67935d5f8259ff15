"""Source configs refuse what is unsafe or inconsistent, naming the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.mqtt import MqttSourceConfig
from connectors.opcua import OpcUaSourceConfig
from runtime.config.model import parse_config
from runtime.core.errors import ConfigError

SITE = Path(__file__).resolve().parents[2] / "configs" / "demo-feeder.yaml"


def test_tls_needs_both_cert_and_key() -> None:
    with pytest.raises(ValueError, match="cert_file and key_file go together"):
        MqttSourceConfig.model_validate(
            {"id": "m", "host": "h", "site": "s", "tls": {"ca_file": "ca.pem", "cert_file": "c"}}
        )


def test_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = MqttSourceConfig(id="m", host="h", site="s", allow_insecure=True, password_env="PW")
    with pytest.raises(ValueError, match="PW is not set"):
        cfg.resolved_password()
    monkeypatch.setenv("PW", "hunter2")
    assert cfg.resolved_password() == "hunter2"
    assert cfg.resolved_client_id() == "gridaios-s-m"


def test_secure_opcua_needs_certificates_and_a_trust_list() -> None:
    ok = OpcUaSourceConfig(
        id="u",
        endpoint="opc.tcp://h:4840",
        security="Aes256_Sha256_RsaPss",
        certificate=Path("c.der"),
        private_key=Path("k.pem"),
        trust_dir=Path("trust"),
    )
    assert ok.mode == "SignAndEncrypt"
    with pytest.raises(ValueError, match="reconnect_max_s"):
        OpcUaSourceConfig(
            id="u",
            endpoint="opc.tcp://h",
            allow_insecure=True,
            reconnect_min_s=5,
            reconnect_max_s=1,
        )


def test_a_site_may_mix_opcua_and_mqtt_sources() -> None:
    text = SITE.read_text().replace(
        "sources:\n",
        "sources:\n  - {id: bus, type: mqtt, host: 127.0.0.1, site: demo-feeder, "
        "allow_insecure: true, format: sparkplug_b}\n",
    )
    config = parse_config(text)
    assert [s.type for s in config.sources] == ["mqtt", "opcua"]
    assert isinstance(config.source("bus"), MqttSourceConfig)


def test_an_insecure_mqtt_source_in_a_site_names_the_field() -> None:
    text = SITE.read_text().replace(
        "sources:\n", "sources:\n  - {id: bus, type: mqtt, host: 127.0.0.1, site: demo-feeder}\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    rendered = [i.render("site.yaml") for i in info.value.issues]
    assert any("sources[0]" in r and "allow_insecure" in r for r in rendered), rendered

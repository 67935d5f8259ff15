"""Configuration of one MQTT source (JSON wire format v1 or Sparkplug B), as in a site YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from connectors.credentials import check_common, resolve_password


class MqttTlsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: Path = Field(description="CA bundle that signed the broker's certificate")
    cert_file: Path | None = Field(default=None, description="client certificate (PEM)")
    key_file: Path | None = Field(default=None, description="client private key (PEM)")

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: set both or neither")
        return self


class MqttSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    type: Literal["mqtt"] = "mqtt"
    host: str = Field(min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    protocol: Literal["5", "3.1.1"] = "5"
    format: Literal["json", "sparkplug_b"] = "json"
    site: str = Field(
        min_length=1,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="site id in JSON topics (gridaios/v1/<site>/...) or Sparkplug group id",
    )
    client_id: str = Field(default="", description="defaults to gridaios-<site>-<id>")
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = Field(default=None, description="read the password from this env")
    tls: MqttTlsConfig | None = None
    allow_insecure: bool = False
    keepalive_s: int = Field(default=30, ge=5)
    session_expiry_s: int = Field(default=3600, ge=0, description="persistent session (MQTT 5)")
    clean_session: bool = Field(
        default=False, description="start without the broker's stored session (probe does)"
    )
    max_payload_bytes: int = Field(default=1_048_576, gt=0)
    max_batch_samples: int = Field(default=1000, gt=0)
    queue_messages: int = Field(default=1000, gt=0, description="bounded decode queue")
    spool_path: Path | None = Field(
        default=None, description="SQLite file buffering commands and acks across restarts"
    )
    heartbeat_s: float = Field(default=5.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    future_tolerance_s: float = Field(default=5.0, ge=0)
    frozen_after_s: float | None = Field(default=900.0, gt=0)
    sparkplug_host_id: str = Field(default="gridaios", min_length=1)
    freshness: Literal["device_time", "link"] = Field(
        default="device_time",
        description="sparkplug_b only; link: a value is current while its edge node is born "
        "and not dead and the broker session is up (report-on-change edges)",
    )
    confirm_every_s: float = Field(
        default=1.0, gt=0, description="freshness link: how often values are re-confirmed"
    )

    @model_validator(mode="after")
    def _secure_is_default(self) -> Self:
        if self.tls is None and not self.allow_insecure:
            raise ValueError(
                "plain MQTT sends credentials and commands in clear text; configure tls "
                "(ca_file, cert_file, key_file) or set allow_insecure: true to accept that"
            )
        if self.freshness == "link" and self.format != "sparkplug_b":
            raise ValueError(
                "freshness: link is for Sparkplug B (node born and not dead); JSON wire "
                "telemetry is stamped by the device on every publish"
            )
        check_common(
            password=self.password,
            password_env=self.password_env,
            reconnect_min_s=self.reconnect_min_s,
            reconnect_max_s=self.reconnect_max_s,
        )
        return self

    def resolved_client_id(self) -> str:
        return self.client_id or f"gridaios-{self.site}-{self.id}"

    def resolved_password(self) -> str | None:
        return resolve_password(self.id, self.password, self.password_env)

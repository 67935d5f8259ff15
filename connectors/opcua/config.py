"""Configuration of one OPC UA source, as it appears in a site YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from connectors.credentials import check_common, resolve_password


class OpcUaSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    type: Literal["opcua"] = "opcua"
    endpoint: str = Field(pattern=r"^opc\.tcp://")
    security: Literal["none", "Basic256Sha256", "Aes256_Sha256_RsaPss"] = "none"
    mode: Literal["SignAndEncrypt", "Sign"] = "SignAndEncrypt"
    allow_insecure: bool = False
    certificate: Path | None = Field(default=None, description="client certificate (DER or PEM)")
    private_key: Path | None = Field(default=None, description="client private key (PEM)")
    trust_dir: Path | None = Field(
        default=None,
        description="directory of trusted server certificates or CAs (DER or PEM); the "
        "server's certificate must be in it or signed by one in it",
    )
    application_uri: str = Field(
        default="urn:gridaios:client", description="must match the client certificate's SAN URI"
    )
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = None
    publishing_interval_ms: float = Field(default=100.0, gt=0)
    sampling_interval_ms: float = Field(default=0.0, ge=0)
    queue_size: int = Field(default=1, ge=1)
    timeout_s: float = Field(default=4.0, gt=0)
    watchdog_s: float = Field(default=1.0, gt=0, description="how often the server is pinged")
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    freshness: Literal["device_time", "link"] = Field(
        default="device_time",
        description="device_time: a value is as old as its SourceTimestamp (a server that "
        "re-stamps what it samples, or a gateway that may lose its devices); link: a value "
        "is current while the subscription delivers or keeps alive (a report-on-change "
        "server that is itself the device, or sets a bad status when it loses it)",
    )
    keepalive_s: float = Field(
        default=1.0,
        gt=0,
        description="freshness link: the keep-alive period asked of the server; every value "
        "is confirmed at most this often",
    )
    future_tolerance_s: float = Field(default=5.0, ge=0)
    frozen_after_s: float | None = Field(default=900.0, gt=0)

    @model_validator(mode="after")
    def _insecure_is_explicit(self) -> Self:
        if self.security == "none":
            if not self.allow_insecure:
                raise ValueError(
                    "security 'none' sends commands unsigned and unencrypted; use "
                    "Basic256Sha256 or Aes256_Sha256_RsaPss, or set allow_insecure: true "
                    "to accept that explicitly"
                )
        else:
            missing = [
                name
                for name in ("certificate", "private_key", "trust_dir")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(
                    f"security {self.security} needs {', '.join(missing)} "
                    "(the client certificate and key, and the trusted server certificates)"
                )
        check_common(
            password=self.password,
            password_env=self.password_env,
            reconnect_min_s=self.reconnect_min_s,
            reconnect_max_s=self.reconnect_max_s,
        )
        return self

    def resolved_password(self) -> str | None:
        return resolve_password(self.id, self.password, self.password_env)

"""The site config's ``openadr`` section: the VTN, this VEN, its programs (docs/dr.md).

Validated like the rest of the site config: pydantic checks each field (one issue per
bad field: field, value, rule), ``config.checks.openadr_issues`` checks what refers to
other sections (the temperature point, the DR agent, the certificate files).
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

FINGERPRINT = r"^([0-9A-Fa-f]{2}:){9}[0-9A-Fa-f]{2}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaselineConfig(_Model):
    method: Literal["high_x_of_y", "temperature_regression"] = "high_x_of_y"
    x: int = Field(default=10, ge=1, le=60, description="high X days ...")
    y: int = Field(default=10, ge=1, le=60, description="... of the Y most recent eligible")
    adjust_hours: float = Field(default=2.0, ge=0, le=12, description="same-day adjustment")
    adjust_gap_hours: float = Field(default=0.0, ge=0, le=12)
    adjust_cap: float = Field(default=0.2, ge=0, le=1, description="factor within 1 +/- cap")
    weekdays_only: bool = True
    temperature_point: str | None = Field(default=None, description="asset.role, in degC")
    interval_s: float = Field(default=900, gt=0, le=3600, description="M&V interval")

    @model_validator(mode="after")
    def _shape(self) -> BaselineConfig:
        if self.x > self.y:
            raise ValueError(f"x = {self.x} must be <= y = {self.y} (high X of Y days)")
        if self.method == "temperature_regression" and self.temperature_point is None:
            raise ValueError("temperature_regression needs temperature_point (asset.role)")
        return self


class OptInThresholds(_Model):
    """Above either, an operator signs the opt-in off before it is sent."""

    max_auto_kw: float = Field(default=100, ge=0, description="largest reduction auto-accepted")
    max_auto_kwh: float = Field(default=200, ge=0, description="largest kW x h auto-accepted")


class ProgramConfig(_Model):
    name: str = Field(min_length=1, max_length=200, description="the OpenADR market context")
    baseline: BaselineConfig = BaselineConfig()
    opt_in_default: Literal["opt_in", "opt_out"] = Field(
        default="opt_out", description="what is sent when nobody answers before the deadline"
    )
    response_deadline_s: float = Field(
        default=900, gt=0, le=86_400, description="how long an operator has to decide"
    )
    penalty_per_kwh: float | None = Field(
        default=None, ge=0, description="a shortfall penalty: any opt-in goes to an operator"
    )
    thresholds: OptInThresholds = OptInThresholds()
    flexibility_kw: float | None = Field(
        default=None, ge=0, description="offered in reports; default the DR battery's rating"
    )


class OpenAdrTls(_Model):
    ca_file: str = Field(min_length=1, description="PEM: the CA that signed the VTN's cert")
    cert: str = Field(min_length=1, description="PEM: this VEN's certificate")
    key: str = Field(min_length=1, description="PEM: this VEN's private key")


class OpenAdrConfig(_Model):
    enabled: bool = True
    version: Literal["2.0b", "3"] = "2.0b"
    vtn_url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$")
    ven_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    ven_name: str = Field(min_length=1, max_length=128)
    vtn_fingerprint: str | None = Field(
        default=None, description="the VTN certificate's OpenADR fingerprint, AA:BB:.. (10)"
    )
    tls: OpenAdrTls | None = None
    allow_insecure: bool = Field(
        default=False,
        description="2.0b: accept a VTN whose signatures are not checked (no vtn_fingerprint)",
    )
    programs: list[ProgramConfig] = Field(min_length=1)
    unknown_program: Literal["opt_out"] = Field(
        default="opt_out", description="events of a program not listed here"
    )
    report_sampling_s: float = Field(default=60, ge=1, le=3600)
    # OpenADR 3 only
    poll_s: float = Field(default=30, ge=1, le=3600, description="OpenADR 3: GET /events every")
    bearer_token_env: str | None = Field(
        default=None, description="OpenADR 3: the environment variable holding the VTN token"
    )
    callback_url: str | None = Field(
        default=None, description="OpenADR 3: subscribe to events with this webhook URL"
    )

    @model_validator(mode="after")
    def _shape(self) -> OpenAdrConfig:
        try:
            _ = urlsplit(self.vtn_url).port
        except ValueError as err:
            raise ValueError(f"vtn_url {self.vtn_url!r}: {err} (a port is 1-65535)") from None
        if self.vtn_fingerprint is not None and not re.match(FINGERPRINT, self.vtn_fingerprint):
            raise ValueError(
                f"vtn_fingerprint {self.vtn_fingerprint!r}: give the VTN's OpenADR "
                "fingerprint, 10 hex bytes separated by colons (AA:BB:...)"
            )
        if self.version == "3":
            if self.tls is not None or self.vtn_fingerprint is not None:
                raise ValueError(
                    "OpenADR 3 authenticates with a bearer token (bearer_token_env) over "
                    "https; tls and vtn_fingerprint are OpenADR 2.0b settings"
                )
        elif self.vtn_url.startswith("https://") and self.tls is None:
            raise ValueError("an https vtn_url needs tls: {ca_file, cert, key}")
        if self.tls is not None and not self.vtn_url.startswith("https://"):
            raise ValueError("tls is set but vtn_url is not https://")
        if self.tls is not None and self.vtn_fingerprint is None and self.version == "2.0b":
            raise ValueError("with tls, pin the VTN: set vtn_fingerprint")
        names = [p.name for p in self.programs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"programs {', '.join(dup)} are listed twice")
        return self

    def program(self, name: str) -> ProgramConfig | None:
        return next((p for p in self.programs if p.name == name), None)


def insecure(oadr: OpenAdrConfig) -> bool:
    """A 2.0b VEN that checks no VTN signature (no pinned fingerprint)."""
    return oadr.version == "2.0b" and oadr.vtn_fingerprint is None


__all__ = [
    "BaselineConfig",
    "OpenAdrConfig",
    "OpenAdrTls",
    "OptInThresholds",
    "ProgramConfig",
    "insecure",
]

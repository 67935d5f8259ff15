"""The ``hierarchy:`` section of a site config and the controller's own config."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from connectors.credentials import check_common
from connectors.mqtt import MqttTlsConfig
from runtime.config.base import ConfigModel as _Model

TOPIC_ID = r"^[A-Za-z0-9_.-]+$"


class BrokerConfig(_Model):
    """The MQTT broker the conductors and the controller share (TLS unless allow_insecure)."""

    host: str = Field(min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = Field(default=None, description="read the password from this env")
    tls: MqttTlsConfig | None = None
    allow_insecure: bool = False
    keepalive_s: int = Field(default=30, ge=5)
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _secure_is_default(self) -> BrokerConfig:
        if self.tls is None and not self.allow_insecure:
            raise ValueError(
                "plain MQTT carries caps and policy pushes in clear text; configure tls "
                "(ca_file, cert_file, key_file) or set allow_insecure: true to accept that"
            )
        check_common(
            password=self.password,
            password_env=self.password_env,
            reconnect_min_s=self.reconnect_min_s,
            reconnect_max_s=self.reconnect_max_s,
        )
        return self


class PolicyPushConfig(_Model):
    """A policy version (and the model versions it uses) the controller pushes to a site."""

    policy: str = Field(min_length=1)
    params: dict[str, float] = Field(default_factory=dict)
    models: dict[str, str] = Field(default_factory=dict)


class HierarchyConfig(_Model):
    """A site's link to the controller. Without this block the conductor runs alone."""

    role: Literal["conductor"] = Field(
        default="conductor",
        description="a site config is always a conductor; the controller has its own file",
    )
    broker: BrokerConfig
    site: str | None = Field(
        default=None, pattern=TOPIC_ID, description="site id in topics; defaults to site.id"
    )
    controller: str = Field(
        default="controller", pattern=TOPIC_ID, description="the only controller id obeyed"
    )
    controller_timeout_s: float = Field(
        default=30.0, gt=0, description="no heartbeat for this long: back to the local config"
    )
    min_threshold_kw: float = Field(
        default=0.0, ge=0, description="a cap below this is applied as this (floor)"
    )
    summary_every_s: float = Field(
        default=30.0,
        gt=0,
        description="a summary at least this often (and every decision cycle); keep it "
        "below the controller's summary_max_age_s",
    )
    known_policies: list[str] = Field(default_factory=lambda: ["peak_shaving"], min_length=1)
    known_models: dict[str, list[str]] = Field(default_factory=dict)


class ControllerHierarchyConfig(_Model):
    role: Literal["controller"]
    id: str = Field(default="controller", pattern=TOPIC_ID)
    broker: BrokerConfig
    sites: list[str] = Field(min_length=1)
    feeder_cap_kw: float = Field(gt=0, description="import limit shared by all sites")
    cadence_s: float = Field(default=60.0, gt=0, description="one allocation per cadence")
    cap_valid_s: float = Field(default=180.0, gt=0, description="a cap's lifetime")
    heartbeat_s: float = Field(default=5.0, gt=0)
    summary_max_age_s: float = Field(
        default=180.0, gt=0, description="an older site summary no longer counts as fresh"
    )
    policy: PolicyPushConfig | None = Field(default=None, description="pushed to every site")
    site_policies: dict[str, PolicyPushConfig] = Field(
        default_factory=dict, description="per-site pushes (override policy)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ControllerHierarchyConfig:
        for site_id in self.sites:
            if not re.fullmatch(TOPIC_ID, site_id) or site_id == "controller":
                raise ValueError(
                    f"sites: {site_id!r} cannot be a topic segment; use letters, digits, "
                    "'_', '.', '-' (and not 'controller')"
                )
        dupes = sorted({s for s in self.sites if self.sites.count(s) > 1})
        if dupes:
            raise ValueError(f"sites: {', '.join(dupes)} listed more than once")
        unknown = sorted(set(self.site_policies) - set(self.sites))
        if unknown:
            raise ValueError(f"site_policies: {', '.join(unknown)} not in sites")
        if self.cap_valid_s <= self.cadence_s:
            raise ValueError(
                f"cap_valid_s ({self.cap_valid_s:g}) must be > cadence_s ({self.cadence_s:g}), "
                "or every cap expires before the next one arrives"
            )
        return self


class ControllerConfig(_Model):
    """``gridaios run --role controller --config CONTROLLER.yaml``."""

    hierarchy: ControllerHierarchyConfig

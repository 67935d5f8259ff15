"""The site YAML's safety parts: the ``safety:`` section and each asset's ``limits:`` block.

Every constraint of the safety envelope is declared here; ``runtime.config.site.envelope``
turns them into ``safety.Envelope``. Cross-references (points, buses, policies)
are checked by ``config.checks.safety_issues`` and refused in the project's error format.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Kind = Literal["active_power_kw", "reactive_power_kvar", "curtail_pct", "switch"]
ID = r"^[A-Za-z0-9_-]+$"

# Which point role a command kind writes: the allowlist is these roles marked writable.
SETPOINT_ROLES: dict[str, str] = {
    "active_power_kw": "p_setpoint_kw",
    "reactive_power_kvar": "q_setpoint_kvar",
    "curtail_pct": "curtail_pct",
    "switch": "switch_cmd",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimitConfig(_Model):
    max_commands: int = Field(ge=1)
    window_s: float = Field(gt=0)


class TimeWindowConfig(_Model):
    id: str = Field(pattern=ID)
    kinds: list[Kind] = Field(min_length=1)
    rule: Literal["forbid", "allow"] = "forbid"
    start: str = Field(default="00:00", pattern=HHMM, description="site-local HH:MM")
    end: str = Field(default="00:00", pattern=HHMM, description="equal to start: all day")
    days: list[Weekday] = Field(default_factory=list, description="empty: every day")
    reason: str = ""


class InterlockConfig(_Model):
    id: str = Field(pattern=ID)
    point: str = Field(min_length=1, description="a point role of this asset, e.g. maintenance")
    active_when: float
    reason: str = Field(min_length=1)


class AssetLimitsConfig(_Model):
    """Per-asset safety limits beyond the asset's ratings."""

    ramp_kw_per_min: float | None = Field(default=None, gt=0)
    ramp_kvar_per_min: float | None = Field(default=None, gt=0)
    ramp_pct_per_min: float | None = Field(default=None, gt=0)
    ramp_interval_s: float = Field(default=60, gt=0)
    max_reactive_kvar: float | None = Field(default=None, ge=0)
    rate_limit: RateLimitConfig | None = None
    time_windows: list[TimeWindowConfig] = Field(default_factory=list)
    interlocks: list[InterlockConfig] = Field(default_factory=list)
    min_on_s: float = Field(default=0, ge=0)
    min_off_s: float = Field(default=0, ge=0)
    voltage_pu_per_kw: dict[str, float] | Literal["computed"] = Field(
        default_factory=dict,
        description="pu per kW injected, per bus of safety.buses; or computed: worked out from "
        "feeder.network's power flow when the config loads",
    )
    voltage_pu_per_kvar: dict[str, float] | Literal["computed"] = Field(default_factory=dict)


class BusConfig(_Model):
    id: str = Field(pattern=ID)
    point: str | None = Field(default=None, description="measured voltage point, asset.role")
    assumed_pu: float | None = Field(default=None, gt=0)
    min_pu: float = Field(default=0.95, gt=0)
    max_pu: float = Field(default=1.05, gt=0)
    network_bus: str | None = Field(
        default=None,
        description="the bus of feeder.network this limit watches, for computed sensitivities "
        "(default: the bus of the same id)",
    )

    @model_validator(mode="after")
    def _base_and_band(self) -> BusConfig:
        if (self.point is None) == (self.assumed_pu is None):
            raise ValueError("give exactly one of point (measured) or assumed_pu")
        if self.min_pu >= self.max_pu:
            raise ValueError(f"min_pu ({self.min_pu:g}) must be below max_pu ({self.max_pu:g})")
        return self


class SafetyConfig(_Model):
    max_age_s: float = Field(default=60, gt=0)
    max_command_duration_s: float = Field(default=86400, gt=0)
    timezone: str = Field(default="UTC", description="IANA zone for time windows")
    policies: dict[str, Literal["clamp", "reject"]] = Field(default_factory=dict)
    buses: list[BusConfig] = Field(default_factory=list)


def weekday_numbers(days: Sequence[Weekday]) -> frozenset[int]:
    return frozenset(WEEKDAYS.index(d) + 1 for d in days)

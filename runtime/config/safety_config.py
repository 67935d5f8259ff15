"""The site YAML's safety parts: the ``safety:`` section and each asset's ``limits:`` block.

Every constraint of the safety envelope is declared here; ``runtime.config.site.envelope``
turns them into ``safety.Envelope``. Cross-references (points, buses, policies)
are checked by ``safety_issues`` and refused in the project's error format.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runtime.core.errors import ConfigIssue
from safety import CLAMPABLE, FAMILIES

if TYPE_CHECKING:
    from runtime.config.model import SiteConfig, _AssetBase

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


def safety_issues(config: SiteConfig) -> list[ConfigIssue]:
    """Cross-reference checks of the safety declarations, each naming the field and the fix."""
    issues: list[ConfigIssue] = []
    safety = config.safety
    for constraint, policy in safety.policies.items():
        fam = constraint.split(".", 1)[0]
        where = f"safety.policies.{constraint}"
        if fam not in FAMILIES:
            known = ", ".join(sorted(FAMILIES))
            issues.append(ConfigIssue(where, policy, f"unknown constraint; known: {known}"))
        elif policy == "clamp" and fam not in CLAMPABLE:
            issues.append(
                ConfigIssue(
                    where,
                    policy,
                    f"a {fam} constraint cannot be clamped (no value satisfies it); use reject",
                )
            )
    try:
        ZoneInfo(safety.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        issues.append(
            ConfigIssue("safety.timezone", safety.timezone, "unknown IANA time zone, e.g. UTC")
        )
    points = {f"{a.id}.{role}" for a in config.assets for role in a.points}
    bus_ids = [b.id for b in safety.buses]
    for i, bus in enumerate(safety.buses):
        if bus.point is not None and bus.point not in points:
            issues.append(
                ConfigIssue(f"safety.buses[{i}].point", bus.point, "unknown point; use asset.role")
            )
        if bus_ids.count(bus.id) > 1:
            issues.append(ConfigIssue(f"safety.buses[{i}].id", bus.id, "duplicate bus id"))
    for i, asset in enumerate(config.assets):
        issues.extend(_asset_issues(i, asset, set(bus_ids), config.feeder.network is not None))
    return issues


def _asset_issues(
    i: int, asset: _AssetBase, buses: set[str], has_network: bool
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    limits = asset.limits
    here = f"assets[{i}].limits"
    for j, lock in enumerate(limits.interlocks):
        if lock.point not in asset.points:
            issues.append(
                ConfigIssue(
                    f"{here}.interlocks[{j}].point",
                    lock.point,
                    f"not a point of {asset.id}; known: {', '.join(sorted(asset.points))}",
                )
            )
    for field, table in (
        ("voltage_pu_per_kw", limits.voltage_pu_per_kw),
        ("voltage_pu_per_kvar", limits.voltage_pu_per_kvar),
    ):
        if table == "computed":
            if not has_network:
                issues.append(
                    ConfigIssue(
                        f"{here}.{field}",
                        table,
                        "needs feeder.network (the power flow it is computed from); "
                        "give the network or declare {bus: pu per unit} per bus",
                    )
                )
            continue
        for bus_id in table:
            if bus_id not in buses:
                known = ", ".join(sorted(buses)) or "none declared in safety.buses"
                issues.append(
                    ConfigIssue(f"{here}.{field}.{bus_id}", bus_id, f"unknown bus; known: {known}")
                )
    q = asset.points.get("q_setpoint_kvar")
    if q is not None and q.writable and limits.max_reactive_kvar is None:
        issues.append(
            ConfigIssue(
                f"{here}.max_reactive_kvar",
                "",
                "required when q_setpoint_kvar is writable: the gate needs the reactive range",
            )
        )
    ids = [w.id for w in limits.time_windows]
    for j, window in enumerate(limits.time_windows):
        if ids.count(window.id) > 1:
            issues.append(
                ConfigIssue(f"{here}.time_windows[{j}].id", window.id, "duplicate window id")
            )
    return issues


def weekday_numbers(days: Sequence[Weekday]) -> frozenset[int]:
    return frozenset(WEEKDAYS.index(d) + 1 for d in days)

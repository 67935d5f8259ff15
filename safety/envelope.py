"""The safety envelope: limits per asset, data freshness, and what to do when a limit fires."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from safety.types import CommandKind


class Policy(StrEnum):
    """What the gate does when a constraint fires: reject is the default."""

    CLAMP = "clamp"
    REJECT = "reject"


@dataclass(frozen=True, slots=True, kw_only=True)
class Range:
    min_value: float
    max_value: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BatteryEnergy:
    """Energy-aware SoC window for a battery."""

    capacity_kwh: float
    soc_min_pct: float
    soc_max_pct: float
    efficiency: float
    soc_point: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetLimits:
    asset: str
    ranges: Mapping[CommandKind, Range]
    required_points: tuple[str, ...] = ()
    battery: BatteryEnergy | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    assets: Mapping[str, AssetLimits]
    max_age: timedelta = timedelta(seconds=60)
    policies: Mapping[str, Policy] = field(default_factory=dict)

    def policy(self, constraint: str) -> Policy:
        return self.policies.get(constraint, Policy.REJECT)

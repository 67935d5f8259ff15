"""Commands, state and verdicts: the values the gate reads and returns.

Sign convention for active power: positive ``value`` on a battery means
discharge (export toward the grid), negative means charge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Origin(StrEnum):
    AGENT = "agent"
    MODEL = "model"
    OPERATOR = "operator"
    DR_EVENT = "dr_event"


class CommandKind(StrEnum):
    ACTIVE_POWER_KW = "active_power_kw"
    REACTIVE_POWER_KVAR = "reactive_power_kvar"
    CURTAIL_PCT = "curtail_pct"
    SWITCH = "switch"


class Quality(StrEnum):
    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """One timed setpoint proposed for one asset."""

    key: str
    asset: str
    kind: CommandKind
    value: float
    start: datetime
    end: datetime
    origin: Origin


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """The latest value of one point, as the gate sees it."""

    point: str
    value: float
    ts: datetime
    quality: Quality


@dataclass(frozen=True, slots=True, kw_only=True)
class StateSnapshot:
    """Latest readings keyed by point id (``asset.role``)."""

    readings: Mapping[str, Reading] = field(default_factory=dict)

    def get(self, point: str) -> Reading | None:
        return self.readings.get(point)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConstraintHit:
    """One constraint that fired, with its numbers and a reason an operator can read."""

    constraint: str
    reason: str
    limit: float | None = None
    observed: float | None = None


def is_finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)

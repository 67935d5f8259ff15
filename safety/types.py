"""Commands, state, history and forecasts: the values the gate reads.

Sign convention for active power: positive ``value`` on a battery means
discharge (injection toward the grid), negative means charge. Feeder net
load is positive when the feeder imports from the transformer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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

    @property
    def unit(self) -> str:
        """The unit a command of this kind is expressed in."""
        return _UNITS[self]


_UNITS: Mapping[CommandKind, str] = {
    CommandKind.ACTIVE_POWER_KW: "kW",
    CommandKind.REACTIVE_POWER_KVAR: "kvar",
    CommandKind.CURTAIL_PCT: "%",
    CommandKind.SWITCH: "on/off",
}


class Quality(StrEnum):
    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """One timed setpoint proposed for one asset.

    ``unit`` is optional; when given it must match the kind's unit (``kW`` for
    ``active_power_kw``...), so a producer that thinks in W or MW is caught.
    """

    key: str
    asset: str
    kind: CommandKind
    value: float
    start: datetime
    end: datetime
    origin: Origin
    unit: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """The latest value of one point, as the gate sees it."""

    point: str
    value: float
    ts: datetime
    quality: Quality
    unit: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StateSnapshot:
    """Latest readings keyed by point id (``asset.role``)."""

    readings: Mapping[str, Reading] = field(default_factory=dict)

    def get(self, point: str) -> Reading | None:
        return self.readings.get(point)


@dataclass(frozen=True, slots=True, kw_only=True)
class Dispatch:
    """A command that already reached a device: the runtime's record, fed back to the gate.

    The gate uses it for ramp references, rate limits and minimum on/off times.
    The runtime passes every dispatch inside the longest of those windows.
    """

    asset: str
    kind: CommandKind
    value: float
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Forecast:
    """Step-wise forecasts for the plan-level checks.

    ``feeder_net_kw[feeder]`` is the uncontrolled net load (load - PV, storage
    excluded) per step from ``start``; ``bus_voltage_pu[bus]`` the voltage at
    each bus without the plan. Steps not covered fall back to measured state.
    """

    start: datetime
    step: timedelta
    feeder_net_kw: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    bus_voltage_pu: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def at(self, series: tuple[float, ...], t: datetime) -> float | None:
        if self.step <= timedelta(0) or t < self.start:
            return None
        i = int((t - self.start) // self.step)
        return series[i] if i < len(series) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConstraintHit:
    """One constraint that fired, with its numbers and a reason an operator can read."""

    constraint: str
    reason: str
    limit: float | None = None
    observed: float | None = None


def is_finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

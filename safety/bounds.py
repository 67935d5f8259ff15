"""Per-asset value bounds: absolute min/max, ramp rate, energy-aware SoC window.

Every such constraint is an interval of allowed values for one command, so
clamping is a projection onto the intersection of intervals and can never
move a value further outside any of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from safety.envelope import AssetLimits, Ramp, Range
from safety.track import Track, history_value, project_soc
from safety.types import Command, CommandKind, ConstraintHit, StateSnapshot

TOLERANCE = 1e-9


class Bound(NamedTuple):
    """Allowed values ``[lo, hi]`` for one command under one constraint.

    A tuple, not a frozen dataclass: the gate builds several per command.
    """

    constraint: str
    lo: float
    hi: float
    explain: Callable[[float], ConstraintHit]

    def admits(self, value: float) -> bool:
        return self.lo - TOLERANCE <= value <= self.hi + TOLERANCE


# ``tuple.__new__(Bound, (...))`` builds a Bound without the generated Python ``__new__``;
# the hot paths (ramp, SoC, network) build several per command.
new_tuple = tuple.__new__


def range_bounds(asset: str, kind: CommandKind, rng: Range) -> list[Bound]:
    unit = kind.unit

    def above(value: float) -> ConstraintHit:
        return ConstraintHit(
            constraint="limit.max",
            reason=f"{asset} {value:g} {unit} above max {rng.max_value:g} {unit}",
            limit=rng.max_value,
            observed=value,
        )

    def below(value: float) -> ConstraintHit:
        return ConstraintHit(
            constraint="limit.min",
            reason=f"{asset} {value:g} {unit} below min {rng.min_value:g} {unit}",
            limit=rng.min_value,
            observed=value,
        )

    return [
        Bound("limit.max", -math.inf, rng.max_value, above),
        Bound("limit.min", rng.min_value, math.inf, below),
    ]


def current_point(limits: AssetLimits, kind: CommandKind) -> str | None:
    if kind in limits.current_points:
        return limits.current_points[kind]
    if kind is CommandKind.ACTIVE_POWER_KW:
        return limits.power_point
    return None


@dataclass(frozen=True, slots=True)
class RampStep:
    """A ramp rule reduced to numbers once per envelope: the step allowed per interval, and the
    point measuring the value to ramp from when neither the plan nor the history has one."""

    per_min: float
    minutes: float
    step: float
    point: str | None


def ramp_step(ramp: Ramp, limits: AssetLimits, kind: CommandKind) -> RampStep:
    minutes = ramp.interval.total_seconds() / 60.0
    return RampStep(
        per_min=ramp.per_min,
        minutes=minutes,
        step=ramp.per_min * minutes,
        point=ramp.point or current_point(limits, kind),
    )


def ramp_bound(command: Command, ramp: RampStep, track: Track, state: StateSnapshot) -> Bound:
    """At most ``ramp.step`` from the reference: the previous command for the asset in the
    plan, else the last dispatch in the history, else the measured value."""
    kind, asset = command.kind, command.asset
    last = track.last_value.get(kind)
    if last is not None:
        ref_value, source = last, "the previous command in the plan"
    else:
        dispatched = history_value(track.history, kind) if track.history else None
        if dispatched is not None:
            ref_value, source = dispatched, "the last dispatched value"
        else:
            point = ramp.point
            reading = state.readings.get(point) if point else None
            if reading is None:
                return _ramp_unknown(asset)
            ref_value, source = reading.value, f"the measured {point}"
    unit, per_min, minutes, step = kind.unit, ramp.per_min, ramp.minutes, ramp.step

    def too_steep(value: float) -> ConstraintHit:
        return ConstraintHit(
            constraint="ramp",
            reason=(
                f"{asset} step {ref_value:g} -> {value:g} {unit} is {abs(value - ref_value):g} "
                f"{unit}; ramp {per_min:g} {unit}/min over {minutes:g} min allows "
                f"{step:g} {unit} from {source}"
            ),
            limit=step,
            observed=abs(value - ref_value),
        )

    return new_tuple(Bound, ("ramp", ref_value - step, ref_value + step, too_steep))


def _ramp_unknown(asset: str) -> Bound:
    """No reference to ramp from: an empty interval, nothing admissible."""

    def unknown(value: float) -> ConstraintHit:
        return ConstraintHit(
            constraint="ramp",
            reason=f"{asset} has no last commanded or measured value to ramp from",
        )

    return Bound("ramp", math.inf, -math.inf, unknown)


def soc_bounds(command: Command, limits: AssetLimits, track: Track) -> list[Bound]:
    battery = limits.battery
    if battery is None or command.kind is not CommandKind.ACTIVE_POWER_KW:
        return []
    soc = track.soc_at_time(command.start, battery)
    if soc is None:  # freshness already failed closed on the SoC point
        return []
    hours = (command.end - command.start).total_seconds() / 3600.0
    floor = min(battery.soc_min_pct, soc)  # never worse than now when already outside
    ceiling = max(battery.soc_max_pct, soc)
    capacity = battery.capacity_kwh
    hi = (soc - floor) / 100.0 * capacity * battery.efficiency / hours
    lo = -(ceiling - soc) / 100.0 * capacity / battery.efficiency / hours
    asset = command.asset
    start = command.start

    def outside(value: float) -> ConstraintHit:
        end_soc = project_soc(soc, value, hours, battery)
        low = end_soc < battery.soc_min_pct
        limit = battery.soc_min_pct if low else battery.soc_max_pct
        verb = "discharging" if value >= 0 else "charging"
        return ConstraintHit(
            constraint="soc.window",
            reason=(
                f"{asset} {verb} {abs(value):g} kW for {hours * 60:g} min from SoC {soc:.1f}% "
                f"at {_hhmm(start)} ends at {end_soc:.1f}%, "
                f"{'below min' if low else 'above max'} {limit:g}%"
            ),
            limit=limit,
            observed=end_soc,
        )

    return [new_tuple(Bound, ("soc.window", lo, hi, outside))]


def _hhmm(t: datetime) -> str:
    return t.isoformat(timespec="minutes")

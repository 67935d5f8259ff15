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


# ``tuple.__new__(Cls, (...))`` builds a named tuple without its generated Python ``__new__``;
# the hot paths (reach, SoC window, network bounds) build one or more per command.
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


def ramp_reference(
    command: Command, ramp: RampStep, track: Track, state: StateSnapshot
) -> tuple[float, str] | None:
    """The value to ramp from and where it comes from (``plan``, ``history`` or ``measured``):
    the previous command for the asset in the plan, else the last dispatch in the history,
    else the measured value; None when there is none."""
    last = track.last_value.get(command.kind)
    if last is not None:
        return last, "plan"
    if track.history:
        dispatched = history_value(track.history, command.kind)
        if dispatched is not None:
            return dispatched, "history"
    point = ramp.point
    reading = state.readings.get(point) if point else None
    return (reading.value, "measured") if reading is not None else None


def ramp_bound(command: Command, ramp: RampStep, track: Track, state: StateSnapshot) -> Bound:
    """At most ``ramp.step`` from the reference (``ramp_reference``)."""
    asset = command.asset
    found = ramp_reference(command, ramp, track, state)
    if found is None:
        return _ramp_unknown(asset)
    ref_value, origin = found
    source = _RAMP_SOURCES.get(origin) or f"the measured {ramp.point}"
    unit, per_min, minutes, step = command.kind.unit, ramp.per_min, ramp.minutes, ramp.step

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

    return Bound("ramp", ref_value - step, ref_value + step, too_steep)


_RAMP_SOURCES = {
    "plan": "the previous command in the plan",
    "history": "the last dispatched value",
}


def _ramp_unknown(asset: str) -> Bound:
    """No reference to ramp from: an empty interval, nothing admissible."""

    def unknown(value: float) -> ConstraintHit:
        return ConstraintHit(
            constraint="ramp",
            reason=f"{asset} has no last commanded or measured value to ramp from",
        )

    return Bound("ramp", math.inf, -math.inf, unknown)


def soc_window(command: Command, limits: AssetLimits, track: Track) -> SocWindow | None:
    """The power that keeps the projected SoC inside the window over the command's duration
    (never worse than now when already outside); None when it does not apply."""
    battery = limits.battery
    if battery is None or command.kind is not CommandKind.ACTIVE_POWER_KW:
        return None
    soc = track.soc_at_time(command.start, battery)
    if soc is None:  # freshness already failed closed on the SoC point
        return None
    hours = (command.end - command.start).total_seconds() / 3600.0
    floor = min(battery.soc_min_pct, soc)
    ceiling = max(battery.soc_max_pct, soc)
    capacity = battery.capacity_kwh
    hi = (soc - floor) / 100.0 * capacity * battery.efficiency / hours
    lo = -(ceiling - soc) / 100.0 * capacity / battery.efficiency / hours
    return new_tuple(SocWindow, (lo, hi, soc, hours))


class SocWindow(NamedTuple):
    lo_kw: float
    hi_kw: float
    soc_pct: float  # at the command's start
    hours: float


def soc_bounds(command: Command, limits: AssetLimits, track: Track) -> list[Bound]:
    window = soc_window(command, limits, track)
    battery = limits.battery
    if window is None or battery is None:
        return []
    lo, hi, soc, hours = window
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

    return [Bound("soc.window", lo, hi, outside)]


def _hhmm(t: datetime) -> str:
    return t.isoformat(timespec="minutes")

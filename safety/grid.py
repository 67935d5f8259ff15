"""Plan-level network checks: feeder thermal rating and bus voltage band, at every step.

Both are linear in the commands: ``quantity(t) = base(t) + sum(coeff * (value - present))``
over the commands active at ``t``. The plan's start and end instants cut time
into segments; each accepted command adds its effect to the segments it
covers, so a later command sees what earlier ones already used.

The rule for one command: the quantity stays inside its limits at every
segment, or, where the rest of the feeder already breaks them, no worse than
with this asset idle. Idle is always allowed; adding to a violation never is.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import NamedTuple, cast

from safety.bounds import TOLERANCE, Bound, current_point, new_tuple
from safety.envelope import AssetLimits, AssetRole, Envelope
from safety.types import Command, CommandKind, ConstraintHit, Forecast, StateSnapshot


class Quantity(NamedTuple):
    """One limited quantity (a feeder's net kW, a bus voltage) over the plan's segments.

    A tuple built with ``new_tuple`` (one or two per plan); ``values`` is a list, advanced
    in place as commands are accepted.
    """

    names: tuple[str, str]  # (constraint id, label), built once per envelope
    unit: str
    lo: float
    hi: float
    values: list[float]
    finite: bool  # every base value is a number (then sums of finite deltas stay so)

    @property
    def constraint(self) -> str:
        return self.names[0]

    @property
    def label(self) -> str:
        return self.names[1]


def _quantity(
    names: tuple[str, str], unit: str, lo: float, hi: float, values: list[float]
) -> Quantity:
    return new_tuple(Quantity, (names, unit, lo, hi, values, all(map(math.isfinite, values))))


class NetworkTimeline:
    def __init__(
        self,
        commands: Sequence[Command],
        state: StateSnapshot,
        envelope: Envelope,
        now: datetime,
        forecast: Forecast | None,
    ) -> None:
        self.envelope = envelope
        self.state = state
        self._storage_points: dict[str, tuple[str, ...]] = {}
        self._effects: dict[tuple[str, CommandKind], list[tuple[Quantity, float]]] = {}
        self._present: dict[tuple[str, CommandKind], float] = {}
        cuts = {now}
        for command in commands:
            cuts.add(max(command.start, now))
            cuts.add(command.end)
        if forecast is not None and forecast.step > timedelta(0):
            first, last = min(cuts), max(cuts)
            steps = max(
                (
                    len(v)
                    for v in (*forecast.feeder_net_kw.values(), *forecast.bus_voltage_pu.values())
                ),
                default=0,
            )
            for k in range(steps + 1):
                t = forecast.start + k * forecast.step
                if first < t < last:
                    cuts.add(t)  # the forecast changes here: a new segment
        self.times = sorted(cuts)
        self._n = max(1, len(self.times) - 1)
        self._forecast = forecast
        # (is_feeder, id) -> quantity, built on first use: big sites, small plans
        self.quantities: dict[tuple[bool, str], Quantity] = {}

    def _feeder(self, feeder_id: str) -> Quantity | None:
        key = (True, feeder_id)
        found = self.quantities.get(key)
        if found is not None:
            return found
        feeder = self.envelope.feeders.get(feeder_id)
        if feeder is None:
            return None
        forecast, n = self._forecast, self._n
        meter = self.state.readings.get(feeder.meter_point)
        values = [meter.value if meter is not None else math.nan] * n
        series = forecast.feeder_net_kw.get(feeder.id) if forecast is not None else None
        if series is not None and forecast is not None:
            held_storage_kw = self._held_storage_kw(feeder.id)
            for i in range(n):
                f = forecast.at(series, self.times[i])
                if f is not None:
                    values[i] = f - held_storage_kw
        found = self.quantities[key] = _quantity(
            _names(self.envelope, key), "kW", -feeder.rating_kw, feeder.rating_kw, values
        )
        return found

    def _bus(self, bus_id: str) -> Quantity | None:
        key = (False, bus_id)
        found = self.quantities.get(key)
        if found is not None:
            return found
        bus = self.envelope.buses.get(bus_id)
        if bus is None:
            return None
        forecast, n = self._forecast, self._n
        reading = self.state.readings.get(bus.point) if bus.point else None
        if reading is not None:
            base = reading.value
        else:
            base = bus.assumed_pu if bus.assumed_pu is not None else math.nan
        values = [base] * n
        series = forecast.bus_voltage_pu.get(bus.id) if forecast is not None else None
        if series is not None and forecast is not None:
            for i in range(n):
                f = forecast.at(series, self.times[i])
                if f is not None:
                    values[i] = f
        found = self.quantities[key] = _quantity(
            _names(self.envelope, key), "pu", bus.min_pu, bus.max_pu, values
        )
        return found

    def storage_points(self, feeder_id: str) -> tuple[str, ...]:
        found = self._storage_points.get(feeder_id)
        if found is None:
            found = self._storage_points[feeder_id] = tuple(
                limits.power_point
                for limits in sorted(self.envelope.assets.values(), key=lambda a: a.asset)
                if limits.feeder == feeder_id
                and limits.role is AssetRole.STORAGE
                and limits.power_point is not None
            )
        return found

    def _held_storage_kw(self, feeder_id: str) -> float:
        total = 0.0
        for point in self.storage_points(feeder_id):
            reading = self.state.readings.get(point)
            total += reading.value if reading is not None else 0.0
        return total

    def effects(self, command: Command, limits: AssetLimits) -> list[tuple[Quantity, float]]:
        """``(quantity, coeff)`` per unit of the command's value, for every quantity it moves."""
        key = (limits.asset, command.kind)
        found = self._effects.get(key)
        if found is None:
            found = self._effects[key] = self._compute_effects(command.kind, limits)
        return found

    def _compute_effects(
        self, kind: CommandKind, limits: AssetLimits
    ) -> list[tuple[Quantity, float]]:
        out: list[tuple[Quantity, float]] = []
        if kind is CommandKind.SWITCH:
            return out
        if kind is not CommandKind.CURTAIL_PCT:  # coefficients read no state: worked out once
            for is_feeder, target, coeff in static_effects(self.envelope, limits, kind):
                quantity = self._feeder(target) if is_feeder else self._bus(target)
                if quantity is not None:
                    out.append((quantity, coeff))
            return out
        curtail_kw = self._curtailable_kw(limits)  # curtailment: scaled by what can be curtailed
        feeder = self._feeder(limits.feeder) if limits.feeder is not None else None
        if feeder is not None:
            coeff = -curtail_kw / 100.0 if limits.role is AssetRole.LOAD else curtail_kw / 100.0
            if coeff != 0.0:
                out.append((feeder, coeff))
        for bus_id in sorted(set(limits.voltage_pu_per_kw) | set(limits.voltage_pu_per_kvar)):
            quantity = self._bus(bus_id)
            if quantity is None:
                continue
            per_kw = limits.voltage_pu_per_kw.get(bus_id, 0.0)
            if limits.role is AssetRole.LOAD:
                coeff = per_kw * curtail_kw / 100.0  # curtailing load raises the voltage
            else:
                coeff = -per_kw * curtail_kw / 100.0
            if coeff != 0.0:
                out.append((quantity, coeff))
        return out

    def _curtailable_kw(self, limits: AssetLimits) -> float:
        """Uncurtailed power of a load or generator, from its measured power and curtailment."""
        reading = self.state.readings.get(limits.power_point) if limits.power_point else None
        if reading is None:
            return 0.0
        p_kw = abs(reading.value)
        present = self.present(limits, CommandKind.CURTAIL_PCT)
        return p_kw / (1.0 - present / 100.0) if 0.0 <= present < 100.0 else p_kw

    def present(self, limits: AssetLimits, kind: CommandKind) -> float:
        """The asset's output now (the measured value the plan's deltas are taken from)."""
        key = (limits.asset, kind)
        value = self._present.get(key)
        if value is None:
            point = current_point(limits, kind)
            reading = self.state.readings.get(point) if point else None
            value = self._present[key] = reading.value if reading is not None else 0.0
        return value

    def reach(self, command: Command, limits: AssetLimits) -> Reach | None:
        """What the command moves (its quantities, the output it starts from, its segments);
        None when it moves no limited quantity."""
        key = (limits.asset, command.kind)
        found = self._effects.get(key)
        if found is None:
            found = self.effects(command, limits)
        if not found:
            return None
        times = self.times
        return new_tuple(
            Reach,
            (
                found,
                self.present(limits, command.kind),
                bisect_left(times, command.start),
                bisect_left(times, command.end),
            ),
        )

    def bounds(self, command: Command, reach: Reach) -> list[Bound]:
        """The command's network bounds, each able to explain itself."""
        found, present, start, stop = reach
        segments = range(start, stop)
        out: list[Bound] = []
        for quantity, coeff in found:
            v_lo, v_hi = _value_range(quantity, coeff, coeff * present, start, stop)
            explain = partial(_explain, quantity, coeff, present, segments, self.times, command)
            out.append(new_tuple(Bound, (quantity.names[0], v_lo, v_hi, explain)))
        return out


class Reach(NamedTuple):
    """A command's reach over the network: an accepted ``value`` adds ``coeff * (value -
    present)`` to each ``(quantity, coeff)`` over segments ``start..stop``."""

    effects: list[tuple[Quantity, float]]
    present: float
    start: int
    stop: int


def admits(reach: Reach, value: float) -> bool:
    """``value`` is inside every network bound of the command (the test ``bounds`` would make,
    without building the bounds)."""
    found, present, start, stop = reach
    for quantity, coeff in found:
        v_lo, v_hi = _value_range(quantity, coeff, coeff * present, start, stop)
        if not v_lo - TOLERANCE <= value <= v_hi + TOLERANCE:
            return False
    return True


def apply(reach: Reach, value: float) -> None:
    """Add an accepted command's effect to the quantities it moves."""
    found, present, start, stop = reach
    for quantity, coeff in found:
        delta = coeff * (value - present)
        values = quantity.values
        values[start:stop] = [v + delta for v in values[start:stop]]


def _value_range(
    quantity: Quantity, coeff: float, own: float, start: int, stop: int
) -> tuple[float, float]:
    """The command values that keep ``quantity`` inside its limits over segments
    ``start..stop``, or no worse than with this asset idle: an asset may always step back to
    idle, never add to a violation the rest of the feeder causes. With the asset idle every
    segment shifts by the same amount (``own``: its effect now), so the tightest segments are
    the extremes: q_max up, q_min down."""
    values = quantity.values
    if stop - start == 1:  # one segment (a lone command from now): no window to scan
        idle_min = idle_max = values[start] - own
    else:
        window = values[start:stop]
        idle_min, idle_max = min(window) - own, max(window) - own
    q_lo, q_hi = quantity.lo, quantity.hi
    # min(q_lo, idle_min) and max(q_hi, idle_max), spelled as the builtins decide
    # (the first argument unless the second compares strictly beyond it).
    room_lo = (idle_min if idle_min < q_lo else q_lo) - idle_min
    room_hi = (idle_max if idle_max > q_hi else q_hi) - idle_max
    if not quantity.finite and not all(map(math.isfinite, values[start:stop])):
        return math.inf, -math.inf  # unknown base: nothing admissible
    if coeff > 0:
        return room_lo / coeff, room_hi / coeff
    return room_hi / coeff, room_lo / coeff


_NAMES = "safety.grid.names"


def _names(envelope: Envelope, key: tuple[bool, str]) -> tuple[str, str]:
    """(constraint id, label) of a feeder (``(True, id)``) or bus (``(False, id)``) quantity."""
    memo = cast("dict[tuple[bool, str], tuple[str, str]] | None", envelope.derived.get(_NAMES))
    if memo is None:
        memo = {}
        envelope.derived[_NAMES] = memo
    found = memo.get(key)
    if found is None:
        is_feeder, name = key
        found = memo[key] = (
            (f"thermal.{name}", f"{name} loading")
            if is_feeder
            else (f"voltage.{name}", f"bus {name} voltage")
        )
    return found


_STATIC = "safety.grid.static_effects"
_Static = tuple[AssetLimits, tuple[tuple[bool, str, float], ...]]


def static_effects(
    envelope: Envelope, limits: AssetLimits, kind: CommandKind
) -> tuple[tuple[bool, str, float], ...]:
    """``(is_feeder, feeder or bus id, coeff)`` for an active or reactive power command, in the
    order ``_compute_effects`` uses; memoised in the envelope like the asset views (keyed by the
    ``AssetLimits`` object, so a replaced asset is worked out again)."""
    memo = cast("dict[tuple[int, CommandKind], _Static] | None", envelope.derived.get(_STATIC))
    if memo is None:
        memo = {}
        envelope.derived[_STATIC] = memo
    found = memo.get((id(limits), kind))
    if found is not None and found[0] is limits:
        return found[1]
    out: list[tuple[bool, str, float]] = []
    if limits.feeder is not None and kind is CommandKind.ACTIVE_POWER_KW:
        out.append((True, limits.feeder, -1.0))  # injection (discharge) lowers the import
    for bus_id in sorted(set(limits.voltage_pu_per_kw) | set(limits.voltage_pu_per_kvar)):
        if kind is CommandKind.ACTIVE_POWER_KW:
            coeff = limits.voltage_pu_per_kw.get(bus_id, 0.0)
        else:
            coeff = limits.voltage_pu_per_kvar.get(bus_id, 0.0)
        if coeff != 0.0:
            out.append((False, bus_id, coeff))
    result = tuple(out)
    memo[(id(limits), kind)] = (limits, result)
    return result


def _explain(
    quantity: Quantity,
    coeff: float,
    present: float,
    segments: range,
    times: list[datetime],
    command: Command,
    value: float,
) -> ConstraintHit:
    """Why ``value`` breaks ``quantity``: the worst segment and its number."""
    delta = coeff * (value - present)
    worst_i, worst_excess, worst_q = segments.start, -math.inf, math.nan
    for i in segments:
        q = quantity.values[i] + delta
        excess = max(q - quantity.hi, quantity.lo - q)
        if excess > worst_excess + TOLERANCE:
            worst_i, worst_excess, worst_q = i, excess, q
    limit = quantity.hi if worst_q >= quantity.hi else quantity.lo
    where = times[worst_i].isoformat(timespec="minutes") if worst_i < len(times) else "?"
    return ConstraintHit(
        constraint=quantity.constraint,
        reason=(
            f"{command.asset} {command.kind.value} {value:g} would put {quantity.label} at "
            f"{worst_q:.4g} {quantity.unit} at {where}, outside "
            f"{quantity.lo:g}..{quantity.hi:g} {quantity.unit}"
        ),
        limit=limit,
        observed=worst_q,
    )

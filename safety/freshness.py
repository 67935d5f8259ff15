"""Fail closed on state: missing, stale, bad or non-finite inputs reject; so do interlocks."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from safety.envelope import AssetLimits, Envelope
from safety.inputs import is_utc_aware
from safety.types import ConstraintHit, Quality, Reading, StateSnapshot, is_finite


def points_needed(limits: AssetLimits, envelope: Envelope) -> tuple[str, ...]:
    """Every point the checks for this asset read: its own, its feeder meter, its buses."""
    points = list(limits.required_points)
    points.extend(i.point for i in limits.interlocks)
    if limits.feeder is not None and limits.feeder in envelope.feeders:
        points.append(envelope.feeders[limits.feeder].meter_point)
    for bus_id in (*limits.voltage_pu_per_kw, *limits.voltage_pu_per_kvar):
        bus = envelope.buses.get(bus_id)
        if bus is not None and bus.point is not None:
            points.append(bus.point)
    return tuple(dict.fromkeys(points))


def state_errors(
    points: Iterable[tuple[str, timedelta]],
    state: StateSnapshot,
    envelope: Envelope,
    now: datetime,
    memo: dict[str, tuple[ConstraintHit, ...]],
) -> list[ConstraintHit]:
    """What is wrong with each ``(point, max_age)`` the checks read; ``memo`` keeps per-point
    results. The common case (good, finite, fresh, no unit) is tested inline."""
    errors: list[ConstraintHit] = []
    readings = state.readings
    ranges = envelope.plausible
    for point, max_age in points:
        hits = memo.get(point)
        if hits is None:
            reading = readings.get(point)
            if (  # the same fast test as point_errors, with the max age looked up once
                type(reading) is Reading
                and reading.quality is Quality.GOOD
                and type(reading.value) is float
                and math.isfinite(reading.value)
                and reading.unit is None
                and type(ts := reading.ts) is datetime
                and (ts.tzinfo is UTC or ts.utcoffset() is not None)  # UTC: no call needed
                and abs(now - ts) <= max_age
                and ((rng := ranges.get(point)) is None or rng[0] <= reading.value <= rng[1])
            ):
                hits = memo[point] = ()
            else:
                hits = memo[point] = tuple(point_errors(point, state, envelope, now))
        if hits:
            errors.extend(hits)
    return errors


def point_errors(
    point: str, state: StateSnapshot, envelope: Envelope, now: datetime
) -> list[ConstraintHit]:
    reading = state.readings.get(point)
    if (  # the common case first: a good, finite, fresh reading with no unit to compare
        type(reading) is Reading
        and reading.quality is Quality.GOOD
        and type(reading.value) is float
        and math.isfinite(reading.value)
        and reading.unit is None
        and isinstance(reading.ts, datetime)
        and reading.ts.utcoffset() is not None
        and abs(now - reading.ts) <= envelope.max_age_of(point)
        and ((rng := envelope.plausible.get(point)) is None or rng[0] <= reading.value <= rng[1])
    ):
        return []
    if reading is None:
        return [
            ConstraintHit(
                constraint="state.missing",
                reason=f"no value for {point}; the gate fails closed without it",
            )
        ]
    return _reading_errors(point, reading, envelope, now)


def _reading_errors(
    point: str, reading: Reading, envelope: Envelope, now: datetime
) -> list[ConstraintHit]:
    errors: list[ConstraintHit] = []
    if not isinstance(reading, Reading):
        return [ConstraintHit(constraint="state.value", reason=f"{point} is not a Reading")]
    if reading.quality is not Quality.GOOD:
        quality = getattr(reading.quality, "value", reading.quality)
        errors.append(
            ConstraintHit(
                constraint="state.quality", reason=f"{point} quality is {quality}, needs good"
            )
        )
    if not is_utc_aware(reading.ts):
        errors.append(
            ConstraintHit(
                constraint="state.stale", reason=f"{point} has no timezone-aware timestamp"
            )
        )
    else:
        age_s = (now - reading.ts).total_seconds()
        max_age_s = envelope.max_age_of(point).total_seconds()
        if age_s > max_age_s:
            errors.append(
                ConstraintHit(
                    constraint="state.stale",
                    reason=f"{point} is {age_s:.0f} s old, max age {max_age_s:g} s",
                    limit=max_age_s,
                    observed=age_s,
                )
            )
        elif age_s < -max_age_s:
            errors.append(
                ConstraintHit(
                    constraint="state.stale",
                    reason=f"{point} is stamped {-age_s:.0f} s in the future; check the clocks",
                    limit=max_age_s,
                    observed=age_s,
                )
            )
    if not is_finite(reading.value):
        errors.append(
            ConstraintHit(constraint="state.value", reason=f"{point} value {reading.value!r}")
        )
    elif (rng := envelope.plausible.get(point)) is not None and not (
        rng[0] <= reading.value <= rng[1]
    ):
        errors.append(
            ConstraintHit(
                constraint="state.implausible",
                reason=f"{point} = {reading.value:g} is outside what it can physically read "
                f"({rng[0]:g} to {rng[1]:g}); check the sensor or its scaling",
                limit=rng[1] if reading.value > rng[1] else rng[0],
                observed=float(reading.value),
            )
        )
    expected = envelope.point_units.get(point)
    if reading.unit is not None and expected is not None and reading.unit != expected:
        errors.append(
            ConstraintHit(
                constraint="state.unit",
                reason=f"{point} is in {reading.unit!r}, the site config says {expected!r}",
            )
        )
    return errors


def interlock_errors(limits: AssetLimits, state: StateSnapshot) -> list[ConstraintHit]:
    """Interlocks that are active (their points were already checked for freshness)."""
    hits: list[ConstraintHit] = []
    for lock in limits.interlocks:
        reading = state.readings.get(lock.point)
        if reading is None or reading.value == lock.active_when:
            observed = reading.value if reading is not None else None
            hits.append(
                ConstraintHit(
                    constraint=f"interlock.{lock.id}",
                    reason=f"{limits.asset}: {lock.reason} ({lock.point} = {observed!r})",
                    limit=lock.active_when,
                    observed=observed,
                )
            )
    return hits

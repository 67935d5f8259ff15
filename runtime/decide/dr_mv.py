"""Measurement and verification of a DR event: the baseline, delivered kW, shortfall. Pure.

Inputs are interval averages of the feeder meter's import in kW, keyed by the
interval's start (UTC), at a fixed ``step``. Two baseline methods (docs/dr.md has a
worked example checked by tests/runtime/test_dr_mv.py):

- ``HighXOfY``: of the ``y`` most recent eligible days before the event day
  (weekdays unless ``weekdays_only`` is off, no DR event days, complete data over the
  event window), the ``x`` with the highest average load over the event window; the
  baseline of each interval is those days' mean at the same time of day. With
  ``adjust_hours``, a same-day multiplicative adjustment: the event day's mean load over
  the ``adjust_hours`` before the event start (less ``adjust_gap_hours``) over the
  baseline's mean over the same hours, capped to ``1 +/- adjust_cap``.
- ``TemperatureRegression``: per time of day, an ordinary least-squares line of load
  on temperature over the ``y`` most recent eligible days; the baseline is that line at
  the event day's temperature.

``verify`` gives per interval the baseline, the actual, the delivered kW (baseline -
actual) and the shortfall against the committed reduction, and totals in kWh.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

Series = Mapping[datetime, float]
# OpenADR SIMPLE levels as a share of the DR battery's rating: 1 moderate, 2 high, 3 special
LEVEL_SHARE = {0: 0.0, 1: 1 / 3, 2: 2 / 3, 3: 1.0}


class MvError(ValueError):
    """Not enough data for the method: the message names what is missing."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HighXOfY:
    x: int = 10
    y: int = 10
    adjust_hours: float = 2.0
    adjust_gap_hours: float = 0.0
    adjust_cap: float = 0.2
    weekdays_only: bool = True
    lookback_days: int = 45

    name = "high_x_of_y"


@dataclass(frozen=True, slots=True, kw_only=True)
class TemperatureRegression:
    y: int = 20
    weekdays_only: bool = True
    lookback_days: int = 60

    name = "temperature_regression"


Method = HighXOfY | TemperatureRegression


@dataclass(frozen=True, slots=True, kw_only=True)
class IntervalResult:
    start: datetime
    baseline_kw: float
    actual_kw: float
    delivered_kw: float
    committed_kw: float
    shortfall_kw: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MvResult:
    method: str
    days_used: tuple[date, ...]
    adjustment: float  # the same-day factor (1.0: none)
    intervals: tuple[IntervalResult, ...]
    step: timedelta
    days_eligible: int = 0  # eligible days found in the lookback (at most days_wanted)
    days_wanted: int = 0  # the method's Y

    @property
    def fewer_days(self) -> bool:
        """Fewer eligible days than Y were found: the baseline rests on a smaller set."""
        return self.days_eligible < self.days_wanted

    @property
    def days_warning(self) -> str | None:
        if not self.fewer_days:
            return None
        return (
            f"only {self.days_eligible} eligible days of the {self.days_wanted} wanted; "
            f"the baseline used the {self.days_eligible} found (more meter history, fewer "
            "event days or a longer lookback give the full set)"
        )

    @property
    def hours(self) -> float:
        return self.step.total_seconds() / 3600

    @property
    def delivered_kwh(self) -> float:
        return sum(i.delivered_kw for i in self.intervals) * self.hours

    @property
    def shortfall_kwh(self) -> float:
        return sum(i.shortfall_kw for i in self.intervals) * self.hours

    @property
    def committed_kwh(self) -> float:
        return sum(i.committed_kw for i in self.intervals) * self.hours

    @property
    def mean_delivered_kw(self) -> float:
        return self.delivered_kwh / (self.hours * len(self.intervals)) if self.intervals else 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "method": self.method,
            "days_used": [d.isoformat() for d in self.days_used],
            "days_eligible": self.days_eligible,
            "days_wanted": self.days_wanted,
            "fewer_days_than_wanted": self.fewer_days,
            "days_warning": self.days_warning,
            "adjustment": round(self.adjustment, 6),
            "step_s": self.step.total_seconds(),
            "delivered_kwh": round(self.delivered_kwh, 3),
            "committed_kwh": round(self.committed_kwh, 3),
            "shortfall_kwh": round(self.shortfall_kwh, 3),
            "mean_delivered_kw": round(self.mean_delivered_kw, 3),
            "intervals": [
                {
                    "start": i.start.isoformat(),
                    "baseline_kw": round(i.baseline_kw, 3),
                    "actual_kw": round(i.actual_kw, 3),
                    "delivered_kw": round(i.delivered_kw, 3),
                    "committed_kw": round(i.committed_kw, 3),
                    "shortfall_kw": round(i.shortfall_kw, 3),
                }
                for i in self.intervals
            ],
        }


def _slots(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    out: list[datetime] = []
    t = start
    while t < end:
        out.append(t)
        t += step
    return out


def _finite(series: Series) -> dict[datetime, float]:
    """A reading that is NaN, infinite or missing (None) is no reading: the day or the
    interval is then treated as having no data, never averaged into a baseline."""
    return {t: v for t, v in series.items() if v is not None and math.isfinite(v)}


def _on_day(t: datetime, back: int, tz: tzinfo) -> datetime:
    """The instant at ``t``'s local wall time (in ``tz``) ``back`` days earlier: the same
    time of day on a baseline day, across a daylight-saving change too."""
    return (t.astimezone(tz) - timedelta(days=back)).astimezone(UTC)


def _eligible_days(
    load: Series,
    start: datetime,
    end: datetime,
    step: timedelta,
    *,
    y: int,
    weekdays_only: bool,
    lookback_days: int,
    event_days: frozenset[date],
    tz: tzinfo = UTC,
) -> list[date]:
    """The ``y`` most recent days (local dates in ``tz``) before the event day with data
    over the window, newest first."""
    days: list[date] = []
    event_day = start.astimezone(tz).date()
    for back in range(1, lookback_days + 1):
        d = event_day - timedelta(days=back)
        if weekdays_only and d.weekday() >= 5:
            continue
        if d in event_days:
            continue
        if all(_on_day(t, back, tz) in load for t in _slots(start, end, step)):
            days.append(d)
        if len(days) == y:
            break
    return days


def baseline(
    method: Method,
    load: Series,
    start: datetime,
    end: datetime,
    step: timedelta,
    *,
    event_days: frozenset[date] = frozenset(),
    temperature: Series | None = None,
    tz: tzinfo = UTC,
) -> tuple[dict[datetime, float], tuple[date, ...], float]:
    """Baseline kW per interval of [start, end), the days used, and the same-day factor.

    Days and times of day are the site's (``tz``): a baseline day's interval is the one at
    the same local wall time, and weekdays are local weekdays."""
    base, days, factor, _ = _baseline(
        method, load, start, end, step, event_days=event_days, temperature=temperature, tz=tz
    )
    return base, days, factor


def _baseline(
    method: Method,
    load: Series,
    start: datetime,
    end: datetime,
    step: timedelta,
    *,
    event_days: frozenset[date] = frozenset(),
    temperature: Series | None = None,
    tz: tzinfo = UTC,
) -> tuple[dict[datetime, float], tuple[date, ...], float, int]:
    """``baseline`` and how many eligible days were found (at most the method's Y)."""
    load = _finite(load)
    if temperature is not None:
        temperature = _finite(temperature)
    slots = _slots(start, end, step)
    if not slots:
        raise MvError("the event window is empty; end must be after start")
    days = _eligible_days(
        load,
        start,
        end,
        step,
        y=method.y,
        weekdays_only=method.weekdays_only,
        lookback_days=method.lookback_days,
        event_days=event_days,
        tz=tz,
    )
    event_day = start.astimezone(tz).date()

    def at(t: datetime, d: date) -> datetime:
        return _on_day(t, (event_day - d).days, tz)

    if isinstance(method, HighXOfY):
        if len(days) < method.x:
            raise MvError(
                f"high {method.x} of {method.y}: only {len(days)} eligible days with meter "
                f"data before {start.date().isoformat()}; need at least {method.x}"
            )

        def window_mean(d: date) -> float:
            return sum(load[at(t, d)] for t in slots) / len(slots)

        chosen = sorted(days, key=lambda d: (-window_mean(d), -d.toordinal()))[: method.x]
        base = {t: sum(load[at(t, d)] for d in chosen) / len(chosen) for t in slots}
        factor = 1.0
        if method.adjust_hours > 0:
            adj_end = start - timedelta(hours=method.adjust_gap_hours)
            adj = _slots(adj_end - timedelta(hours=method.adjust_hours), adj_end, step)
            have = [t for t in adj if t in load and all(at(t, d) in load for d in chosen)]
            if have:
                actual = sum(load[t] for t in have) / len(have)
                typical = sum(load[at(t, d)] for t in have for d in chosen) / (
                    len(have) * len(chosen)
                )
                if typical > 0:
                    factor = min(
                        max(actual / typical, 1 - method.adjust_cap), 1 + method.adjust_cap
                    )
        return {t: v * factor for t, v in base.items()}, tuple(chosen), factor, len(days)

    if temperature is None:
        raise MvError(
            "temperature regression needs a temperature point; set the program's "
            "baseline.temperature_point or use high_x_of_y"
        )
    days = [d for d in days if all(at(t, d) in temperature for t in slots)]
    if len(days) < 3:
        raise MvError(
            f"temperature regression: {len(days)} days with load and temperature before "
            f"{start.date().isoformat()}; need at least 3"
        )
    out: dict[datetime, float] = {}
    for t in slots:
        if t not in temperature:
            raise MvError(f"temperature regression: no temperature at {t.isoformat()}")
        xs = [temperature[at(t, d)] for d in days]
        ys = [load[at(t, d)] for d in days]
        a, b = _ols(xs, ys)
        out[t] = a + b * temperature[t]
    return out, tuple(days), 1.0, len(days)


def _ols(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Intercept and slope of the least-squares line; a flat line when x does not vary."""
    n = len(xs)
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return my, 0.0
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return my - b * mx, b


def verify(
    method: Method,
    load: Series,
    start: datetime,
    end: datetime,
    step: timedelta,
    *,
    committed_kw: Mapping[datetime, float] | float = 0.0,
    event_days: frozenset[date] = frozenset(),
    temperature: Series | None = None,
    tz: tzinfo = UTC,
) -> MvResult:
    """Baseline, delivered kW and shortfall for one event window (days in ``tz``)."""
    base, days, factor, eligible = _baseline(
        method, load, start, end, step, event_days=event_days, temperature=temperature, tz=tz
    )
    load = _finite(load)
    rows: list[IntervalResult] = []
    for t, b in base.items():
        if t not in load:
            raise MvError(f"no meter reading for the event interval at {t.isoformat()}")
        actual = load[t]
        delivered = b - actual
        committed = (
            committed_kw if isinstance(committed_kw, float | int) else committed_kw.get(t, 0.0)
        )
        rows.append(
            IntervalResult(
                start=t,
                baseline_kw=b,
                actual_kw=actual,
                delivered_kw=delivered,
                committed_kw=float(committed),
                shortfall_kw=max(float(committed) - delivered, 0.0),
            )
        )
    return MvResult(
        method=method.name,
        days_used=days,
        adjustment=factor,
        intervals=tuple(rows),
        step=step,
        days_eligible=eligible,
        days_wanted=method.y,
    )


def resample(
    samples: Sequence[tuple[datetime, float]],
    step: timedelta,
    *,
    origin: datetime | None = None,
) -> dict[datetime, float]:
    """Interval means of raw samples, keyed by the interval's start: ``origin`` plus a
    whole number of ``step`` (default: aligned to ``step`` from the epoch). Give the
    event's start as ``origin`` so the intervals are the event's whatever its start."""
    sums: dict[datetime, tuple[float, int]] = {}
    step_s = step.total_seconds()
    zero = origin.timestamp() if origin is not None else 0.0
    for ts, value in samples:
        if value is None or not math.isfinite(value):
            continue  # no reading (see _finite)
        epoch = ts.timestamp()
        start = datetime.fromtimestamp(epoch - (epoch - zero) % step_s, tz=ts.tzinfo)
        total, count = sums.get(start, (0.0, 0))
        sums[start] = (total + value, count + 1)
    return {t: total / count for t, (total, count) in sorted(sums.items())}


__all__ = [
    "LEVEL_SHARE",
    "HighXOfY",
    "IntervalResult",
    "Method",
    "MvError",
    "MvResult",
    "Series",
    "TemperatureRegression",
    "baseline",
    "resample",
    "verify",
]

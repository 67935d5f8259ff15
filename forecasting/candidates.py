"""The candidate statistical models, named, with what each needs.

All candidates are cheap enough to refresh 200 series in seconds. Seasonal
naive (daily) is the mandatory fallback: it needs one day of history and
cannot fail to fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl
from statsforecast.models import ARIMA, MSTL, Naive, SeasonalNaive, SeasonalWindowAverage
from statsforecast.utils import ConformalIntervals

FALLBACK = "SeasonalNaive"


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    name: str
    build: Callable[[int, int, int], Any]  # (daily, weekly, horizon) -> statsforecast model
    min_days: float  # history needed to fit and to be backtested once
    uses_exog: bool = False
    conformal: bool = False
    blend_of: tuple[str, ...] = ()  # equal-weight mean of these candidates' forecasts
    # single-day naive models win short backtests by luck and then fail (measured on PV):
    # they are scored by `forecast backtest` but the engine uses them only as the fallback
    selectable: bool = True

    def min_steps(self, daily: int, h: int, windows: int) -> int:
        """History needed to backtest ``windows`` origins of ``h`` steps."""
        extra = CONFORMAL_WINDOWS if self.conformal else 0
        return int(self.min_days * daily) + (windows + extra) * h


#: backtest windows behind conformal intervals; each costs one horizon of history
CONFORMAL_WINDOWS = 3


def _conformal(h: int) -> ConformalIntervals:
    return ConformalIntervals(h=h, n_windows=CONFORMAL_WINDOWS)


def naive(daily: int, weekly: int, h: int) -> Any:
    """Last value carried forward: only when there is less than one day of history."""
    return Naive(alias="Naive")


def _snaive(daily: int, weekly: int, h: int) -> Any:
    return SeasonalNaive(season_length=daily, alias="SeasonalNaive")


def _snaive_weekly(daily: int, weekly: int, h: int) -> Any:
    return SeasonalNaive(season_length=weekly, alias="SeasonalNaiveWeekly")


def _day_average(daily: int, weekly: int, h: int) -> Any:
    return SeasonalWindowAverage(
        season_length=daily, window_size=7, alias="DayAverage7", prediction_intervals=_conformal(h)
    )


def _week_average(daily: int, weekly: int, h: int) -> Any:
    return SeasonalWindowAverage(
        season_length=weekly,
        window_size=3,
        alias="WeekAverage3",
        prediction_intervals=_conformal(h),
    )


def _harmonic_arima(daily: int, weekly: int, h: int) -> Any:
    # regression on Fourier terms and exogenous inputs, AR(2) errors
    return ARIMA(order=(2, 0, 0), include_mean=True, alias="HarmonicARIMA")


def mstl(daily: int, weekly: int, h: int) -> Any:
    """The reference MSTL(daily, weekly); too slow to refresh 200 series, used as a baseline."""
    return MSTL(season_length=[daily, weekly], alias="MSTL")


MSTL_CANDIDATE = Candidate(name="MSTL", build=mstl, min_days=14.0)


def _components_only(daily: int, weekly: int, h: int) -> Any:
    raise TypeError("a blend has no model of its own; use models_for()")


CANDIDATES: tuple[Candidate, ...] = (
    Candidate(name="SeasonalNaive", build=_snaive, min_days=1.0, selectable=False),
    Candidate(name="DayAverage7", build=_day_average, min_days=7.0, conformal=True),
    Candidate(name="SeasonalNaiveWeekly", build=_snaive_weekly, min_days=7.0, selectable=False),
    Candidate(name="WeekAverage3", build=_week_average, min_days=21.0, conformal=True),
    Candidate(
        name="Blend",
        build=_components_only,
        min_days=21.0,
        conformal=True,
        blend_of=("DayAverage7", "WeekAverage3"),
    ),
    Candidate(name="HarmonicARIMA", build=_harmonic_arima, min_days=3.0, uses_exog=True),
)


def candidate(name: str) -> Candidate:
    for c in CANDIDATES:
        if c.name == name:
            return c
    raise KeyError(name)


def models_for(cand: Candidate, daily: int, weekly: int, h: int) -> list[Any]:
    """The statsforecast models to run for ``cand`` (its components, for a blend)."""
    if cand.blend_of:
        return [candidate(n).build(daily, weekly, h) for n in cand.blend_of]
    return [cand.build(daily, weekly, h)]


def add_blend(frame: pl.DataFrame, cand: Candidate) -> pl.DataFrame:
    """Add ``cand.name`` columns (point and any interval bounds) as the mean of its parts."""
    if not cand.blend_of:
        return frame
    first = cand.blend_of[0]
    suffixes = [c[len(first) :] for c in frame.columns if c == first or c.startswith(first + "-")]
    return frame.with_columns(
        pl.mean_horizontal(pl.col(f"{n}{sfx}") for n in cand.blend_of).alias(f"{cand.name}{sfx}")
        for sfx in suffixes
    )

"""The candidate statistical models, named, with what each needs.

All candidates are cheap enough to refresh 200 series in seconds. Seasonal
naive (daily) is the mandatory fallback: it needs one day of history and
cannot fail to fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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

    def min_steps(self, daily: int, h: int, windows: int) -> int:
        """History needed to backtest ``windows`` origins of ``h`` steps."""
        extra = CONFORMAL_WINDOWS if self.conformal else 0
        return int(self.min_days * daily) + (windows + extra) * h


#: backtest windows behind conformal intervals; each costs one horizon of history
CONFORMAL_WINDOWS = 5


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

CANDIDATES: tuple[Candidate, ...] = (
    Candidate(name="SeasonalNaive", build=_snaive, min_days=1.0),
    Candidate(name="DayAverage7", build=_day_average, min_days=7.0, conformal=True),
    Candidate(name="SeasonalNaiveWeekly", build=_snaive_weekly, min_days=7.0),
    Candidate(name="WeekAverage3", build=_week_average, min_days=21.0, conformal=True),
    Candidate(name="HarmonicARIMA", build=_harmonic_arima, min_days=3.0, uses_exog=True),
)


def candidate(name: str) -> Candidate:
    for c in CANDIDATES:
        if c.name == name:
            return c
    raise KeyError(name)

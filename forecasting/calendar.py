"""Day types from the site's public-holiday calendar, in the site's local time.

A day is a workday (Monday..Friday), a Saturday, or a Sunday; a public holiday of
the site's country/subdivision (the `holidays` package) is a Sunday. Forecasting
models look up each target day's local date, so DST shifts move the profile with
the clock, not with UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from forecasting.frames import ForecastError

WORKDAY, SATURDAY, SUNDAY = 0, 1, 2
DAY_TYPE_NAMES = ("workday", "saturday", "sunday_or_holiday")


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteCalendar:
    """Country (ISO 3166-1 alpha-2), optional subdivision, and the local time zone."""

    country: str = "DE"
    subdivision: str | None = None
    tz: str = "UTC"
    #: site-specific days off (bridge days, local feasts): treated as holidays
    extra_holidays: tuple[date, ...] = ()

    def __post_init__(self) -> None:
        check(self.country, self.subdivision, self.tz)

    def holidays_between(self, first: date, last: date) -> set[date]:
        years = tuple(range(first.year, last.year + 1))
        table = _table(self.country, self.subdivision, years) | set(self.extra_holidays)
        return {d for d in table if first <= d <= last}

    def day_types(self, days: np.ndarray) -> np.ndarray:
        """Day type for each ``datetime64[D]`` local date in ``days``."""
        days = np.asarray(days, dtype="datetime64[D]")
        if days.size == 0:
            return np.zeros(0, dtype=np.int8)
        weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
        out = np.where(weekday == 5, SATURDAY, np.where(weekday == 6, SUNDAY, WORKDAY))
        first = days.min().astype(date)
        last = days.max().astype(date)
        hol = np.array(sorted(self.holidays_between(first, last)), dtype="datetime64[D]")
        if hol.size:
            out = np.where(np.isin(days, hol), SUNDAY, out)
        return out.astype(np.int8)

    def is_holiday(self, days: np.ndarray) -> np.ndarray:
        days = np.asarray(days, dtype="datetime64[D]")
        if days.size == 0:
            return np.zeros(0, dtype=bool)
        hol = self.holidays_between(days.min().astype(date), days.max().astype(date))
        return np.isin(days, np.array(sorted(hol), dtype="datetime64[D]"))

    def local_days(self, utc: list[datetime] | np.ndarray) -> np.ndarray:
        """Local calendar date (``datetime64[D]``) of each UTC instant."""
        zone = ZoneInfo(self.tz)
        return np.array([_as_dt(t).astimezone(zone).date() for t in utc], dtype="datetime64[D]")


def _as_dt(t: object) -> datetime:
    if isinstance(t, datetime):
        return t
    if isinstance(t, np.datetime64):
        from datetime import UTC

        return datetime.fromtimestamp(t.astype("datetime64[us]").astype(np.int64) / 1e6, UTC)
    raise ForecastError(f"timestamp {t!r} is not a datetime")


def check(country: str, subdivision: str | None, tz: str) -> None:
    """Raise a one-line :class:`ForecastError` naming the bad field and the fix."""
    import holidays

    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ForecastError(
            f"calendar country {country!r} is not known to the holidays package: "
            "use an ISO 3166-1 alpha-2 code such as DE, AT, US"
        )
    if subdivision is not None and subdivision not in supported[country]:
        raise ForecastError(
            f"calendar subdivision {subdivision!r} is not a subdivision of {country}: "
            f"use one of {', '.join(supported[country][:12])}"
            + (" ..." if len(supported[country]) > 12 else "")
        )
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ForecastError(
            f"calendar tz {tz!r} is not an IANA time zone: use e.g. Europe/Berlin"
        ) from err


@lru_cache(maxsize=64)
def _table(country: str, subdivision: str | None, years: tuple[int, ...]) -> frozenset[date]:
    import holidays

    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=years).keys())

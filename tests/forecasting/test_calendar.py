"""Calendar-aware forecasts: holidays as Sundays in local time, 14-day conformal intervals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest

from forecasting import EngineConfig, ForecastEngine, ForecastError, clean
from forecasting.calendar import SATURDAY, SUNDAY, WORKDAY, SiteCalendar

BERLIN = ZoneInfo("Europe/Berlin")


def office(days: int, start: date, holidays: set[date], seed: int = 0) -> pl.DataFrame:
    """Office-hours load in Berlin local time: 07:30-18:30 on workdays, base otherwise."""
    rng = np.random.default_rng(seed)
    first = datetime(start.year, start.month, start.day, tzinfo=BERLIN).astimezone(UTC)
    ds = [first + timedelta(minutes=15 * i) for i in range(days * 96)]
    y = []
    for t in ds:
        loc = t.astimezone(BERLIN)
        open_day = loc.weekday() < 5 and loc.date() not in holidays
        on = open_day and (7.5 <= loc.hour + loc.minute / 60 < 18.5)
        y.append((100.0 if on else 20.0) + rng.normal(0, 3))
    return pl.DataFrame({"unique_id": "office", "ds": ds, "y": y}).with_columns(
        pl.col("ds").dt.cast_time_unit("us")
    )


def test_day_types_follow_the_country_calendar_and_extra_days() -> None:
    cal = SiteCalendar(country="DE", tz="Europe/Berlin", extra_holidays=(date(2026, 4, 8),))
    days = np.arange(np.datetime64("2026-04-03"), np.datetime64("2026-04-09"))
    # Good Friday, Saturday, Easter Sunday, Easter Monday, Tuesday, extra Wednesday
    assert cal.day_types(days).tolist() == [SUNDAY, SATURDAY, SUNDAY, SUNDAY, WORKDAY, SUNDAY]
    # Easter Sunday is a Sunday, not a national public holiday (only in Brandenburg)
    assert cal.is_holiday(days).tolist() == [True, False, False, True, False, True]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"country": "XX"}, "calendar country 'XX'"),
        ({"country": "DE", "subdivision": "ZZ"}, "subdivision 'ZZ'"),
        ({"tz": "Mars/Olympus"}, "calendar tz 'Mars/Olympus'"),
    ],
)
def test_bad_calendar_is_a_one_line_error(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ForecastError, match=match):
        SiteCalendar(**kwargs)


def test_easter_monday_is_forecast_like_a_sunday_with_calibrated_intervals() -> None:
    cal = SiteCalendar(country="DE", tz="Europe/Berlin")
    hol = cal.holidays_between(date(2026, 2, 1), date(2026, 4, 30))
    frame = office(36, date(2026, 3, 1), hol)  # through Easter Sunday 2026-04-05 (DST on 29 Mar)
    data = clean(frame)
    engine = ForecastEngine(EngineConfig(horizon=timedelta(hours=24), calendar=cal))
    now = datetime(2026, 4, 5, 22, tzinfo=UTC)
    selection = engine.select(data, now)
    choice = selection.choices["office"]
    assert choice.model == "DayType", choice
    assert len(choice.interval_halfwidths["80"]) == 24
    result = engine.forecast(data, selection)
    assert result.metadata["office"]["intervals"].startswith("conformal on >= 14 days")
    truth = office(38, date(2026, 3, 1), hol).filter(pl.col("ds") > data.frame["ds"].max())
    j = truth.join(result.frame, on=["unique_id", "ds"])
    assert j.height == 96
    err = float((j["y"] - j["yhat"]).abs().mean())
    assert err < 6.0  # Easter Monday is closed: the profile forecast stays at base load
    # without the calendar the same history forecasts a workday: office hours at 100 kW
    plain = ForecastEngine(EngineConfig(horizon=timedelta(hours=24)))
    pj = truth.join(plain.forecast(data, plain.select(data, now)).frame, on=["unique_id", "ds"])
    assert float((pj["y"] - pj["yhat"]).abs().mean()) > 3 * err
    cover = ((j["y"] >= j["lo_80"]) & (j["y"] <= j["hi_80"])).mean()
    assert 0.6 <= float(cover) <= 1.0  # type: ignore[arg-type]
    assert (j["lo_95"] >= 0).all()  # a load that never went negative is clipped at 0


def test_pv_intervals_are_clipped_to_zero_and_rating() -> None:
    rng = np.random.default_rng(3)
    first = datetime(2026, 5, 1, tzinfo=UTC)
    ds = [first + timedelta(minutes=15 * i) for i in range(30 * 96)]
    hour = np.array([t.hour + t.minute / 60 for t in ds])
    bell = np.clip(np.sin(np.pi * (hour - 5) / 14), 0, None)
    y = 100.0 * bell * rng.uniform(0.3, 1.0, len(ds))
    frame = pl.DataFrame({"unique_id": "pv", "ds": ds, "y": y}).with_columns(
        pl.col("ds").dt.cast_time_unit("us")
    )
    cal = SiteCalendar(country="DE", tz="UTC")
    engine = ForecastEngine(
        EngineConfig(horizon=timedelta(hours=24), calendar=cal, ratings_kw={"pv": 90.0})
    )
    data = clean(frame)
    sel = engine.select(data, ds[-1])
    # force the calendar model so its clipping is what is tested
    sel.choices["pv"] = type(sel.choices["pv"])(
        unique_id="pv",
        model="DayType",
        fallback=False,
        reason="test",
        interval_halfwidths=sel.choices["pv"].interval_halfwidths or engine_widths(engine, data),
    )
    out = engine.forecast(data, sel).frame
    assert (out["lo_95"] >= 0).all() and (out["hi_95"] <= 90.0).all()
    night = out.filter(pl.col("ds").dt.hour() < 4)
    assert (night["hi_80"] - night["lo_80"]).max() < 1e-9  # exact at night


def engine_widths(engine: ForecastEngine, data: object) -> dict[str, list[float]]:
    from forecasting import daytype

    cal = engine.config.calendar
    assert cal is not None
    return daytype.fit(data, cal, windows=1).halfwidths["pv"]  # type: ignore[arg-type]

"""M&V baselines against the hand-computed worked example in docs/dr.md."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from runtime.decide.dr_mv import (
    HighXOfY,
    MvError,
    TemperatureRegression,
    baseline,
    resample,
    verify,
)

H = timedelta(hours=1)
EVENT_START = datetime(2026, 7, 13, 17, tzinfo=UTC)  # a Monday
EVENT_END = datetime(2026, 7, 13, 19, tzinfo=UTC)

# hour 15, 16, 17, 18 of each day (docs/dr.md, "Worked example")
DAYS = {
    date(2026, 7, 6): (100, 100, 130, 160),
    date(2026, 7, 7): (80, 80, 90, 90),
    date(2026, 7, 8): (110, 110, 140, 130),
    date(2026, 7, 9): (90, 90, 100, 110),
    date(2026, 7, 10): (90, 90, 120, 130),
    date(2026, 7, 11): (200, 200, 200, 200),  # Saturday: not eligible
    date(2026, 7, 12): (200, 200, 200, 200),  # Sunday: not eligible
    date(2026, 7, 13): (110, 110, 93, 114),  # the event day
}


def _load(days: Mapping[date, tuple[float, ...]] = DAYS) -> dict[datetime, float]:
    out: dict[datetime, float] = {}
    for d, values in days.items():
        for hour, v in zip((15, 16, 17, 18), values, strict=True):
            out[datetime(d.year, d.month, d.day, hour, tzinfo=UTC)] = float(v)
    return out


def test_high_3_of_5_with_same_day_adjustment_matches_the_worked_example() -> None:
    method = HighXOfY(x=3, y=5, adjust_hours=2, adjust_cap=0.2)
    result = verify(method, _load(), EVENT_START, EVENT_END, H, committed_kw=50.0)
    assert result.days_used == (date(2026, 7, 6), date(2026, 7, 8), date(2026, 7, 10))
    assert result.adjustment == pytest.approx(1.1)
    rows = result.intervals
    assert [r.baseline_kw for r in rows] == pytest.approx([143.0, 154.0])
    assert [r.delivered_kw for r in rows] == pytest.approx([50.0, 40.0])
    assert [r.shortfall_kw for r in rows] == pytest.approx([0.0, 10.0])
    assert result.delivered_kwh == pytest.approx(90.0)
    assert result.committed_kwh == pytest.approx(100.0)
    assert result.shortfall_kwh == pytest.approx(10.0)


def test_the_same_day_adjustment_is_capped() -> None:
    days = dict(DAYS)
    days[date(2026, 7, 13)] = (150, 150, 93, 114)  # 1.5x the baseline before the event
    base, _, factor = baseline(HighXOfY(x=3, y=5), _load(days), EVENT_START, EVENT_END, H)
    assert factor == pytest.approx(1.2)
    assert list(base.values()) == pytest.approx([156.0, 168.0])


def test_days_with_events_are_skipped_and_too_few_days_is_a_clear_error() -> None:
    skip = frozenset({date(2026, 7, 6)})
    result = verify(
        HighXOfY(x=3, y=5, adjust_hours=0), _load(), EVENT_START, EVENT_END, H, event_days=skip
    )
    assert date(2026, 7, 6) not in result.days_used
    with pytest.raises(MvError, match="only 4 eligible days"):
        baseline(HighXOfY(x=5, y=5), _load(), EVENT_START, EVENT_END, H, event_days=skip)


def test_fewer_eligible_days_than_y_but_at_least_x_is_flagged_in_the_result() -> None:
    """High 3 of 5 with one of the five weekdays an event day: 4 eligible days, the
    baseline rests on them, and the result says so (never silently)."""
    skip = frozenset({date(2026, 7, 6)})
    short = verify(HighXOfY(x=3, y=5), _load(), EVENT_START, EVENT_END, H, event_days=skip)
    assert (short.days_eligible, short.days_wanted, short.fewer_days) == (4, 5, True)
    figures = short.as_json()
    assert figures["fewer_days_than_wanted"] is True
    assert figures["days_eligible"] == 4 and figures["days_wanted"] == 5
    assert "only 4 eligible days of the 5 wanted" in str(figures["days_warning"])
    full = verify(HighXOfY(x=3, y=5), _load(), EVENT_START, EVENT_END, H)
    assert (full.days_eligible, full.fewer_days, full.days_warning) == (5, False, None)
    assert full.as_json()["fewer_days_than_wanted"] is False


def test_10_of_10_uses_every_day_when_there_are_exactly_ten() -> None:
    load: dict[datetime, float] = {}
    d = date(2026, 6, 29)  # two weeks of weekdays before the event day
    kws: list[float] = []
    while d < date(2026, 7, 13):
        if d.weekday() < 5:
            kw = 100.0 + len(kws)
            kws.append(kw)
            for hour in (15, 16, 17, 18):
                load[datetime(d.year, d.month, d.day, hour, tzinfo=UTC)] = kw
        d += timedelta(days=1)
    for hour, kw in zip((15, 16, 17, 18), (104.5, 104.5, 80.0, 80.0), strict=True):
        load[datetime(2026, 7, 13, hour, tzinfo=UTC)] = kw
    result = verify(HighXOfY(), load, EVENT_START, EVENT_END, H)
    assert len(result.days_used) == 10
    assert result.adjustment == pytest.approx(1.0)  # the event morning was typical
    assert result.intervals[0].baseline_kw == pytest.approx(sum(kws) / 10)


def test_temperature_regression_matches_the_worked_example() -> None:
    start = datetime(2026, 7, 13, 17, tzinfo=UTC)
    temps = {10: 35.0, 9: 30.0, 8: 25.0, 7: 20.0, 6: 40.0, 13: 32.0}
    loads = {10: 130.0, 9: 120.0, 8: 110.0, 7: 100.0, 6: 500.0, 13: 90.0}
    load = {datetime(2026, 7, d, 17, tzinfo=UTC): kw for d, kw in loads.items()}
    temp = {datetime(2026, 7, d, 17, tzinfo=UTC): t for d, t in temps.items()}
    result = verify(
        TemperatureRegression(y=4), load, start, start + H, H, temperature=temp, committed_kw=30.0
    )
    assert result.days_used == tuple(date(2026, 7, d) for d in (10, 9, 8, 7))
    assert result.intervals[0].baseline_kw == pytest.approx(124.0)
    assert result.intervals[0].delivered_kw == pytest.approx(34.0)
    assert result.shortfall_kwh == pytest.approx(0.0)
    with pytest.raises(MvError, match="temperature point"):
        verify(TemperatureRegression(y=4), load, start, start + H, H)


def test_resample_averages_samples_into_aligned_intervals() -> None:
    t0 = datetime(2026, 7, 13, 17, tzinfo=UTC)
    samples = [(t0 + timedelta(minutes=m), float(m)) for m in range(0, 120, 10)]
    out = resample(samples, H)
    assert out == {t0: pytest.approx(25.0), t0 + H: pytest.approx(85.0)}


def test_the_worked_example_in_the_docs_states_these_numbers() -> None:
    text = (Path(__file__).parents[2] / "docs" / "dr.md").read_text(encoding="utf-8")
    for figure in ("143", "154", "1.1", "90 kWh", "10 kWh", "124"):
        assert figure in text


def test_a_nan_or_missing_meter_reading_is_no_reading_never_a_nan_figure() -> None:
    """A NaN from a meter (or a null from the historian) on a baseline day must not poison
    the ranking and the baseline: that day has no data over the window and is skipped."""
    load = _load()
    load[datetime(2026, 7, 10, 17, tzinfo=UTC)] = float("nan")  # Fri, a high day
    result = verify(
        HighXOfY(x=3, y=4), load, EVENT_START, EVENT_END, H, committed_kw=50.0
    )  # Fri skipped: the 4 most recent complete weekdays are 07-09 .. 07-06
    assert date(2026, 7, 10) not in result.days_used
    assert result.days_used == (date(2026, 7, 6), date(2026, 7, 8), date(2026, 7, 9))
    assert all(math.isfinite(i.baseline_kw) for i in result.intervals)
    json.dumps(result.as_json(), allow_nan=False)
    # a NaN in the event window itself: no reading, said so
    load = _load()
    load[EVENT_START] = float("inf")
    with pytest.raises(MvError, match="no meter reading"):
        verify(HighXOfY(x=3, y=5), load, EVENT_START, EVENT_END, H)
    samples = [(EVENT_START, float("nan")), (EVENT_START + H / 2, 100.0)]
    assert resample(samples, H) == {EVENT_START: 100.0}
    assert resample([(EVENT_START, None)], H) == {}  # type: ignore[list-item]


def test_baseline_days_are_the_sites_local_days_across_a_dst_change() -> None:
    """A site in America/Los_Angeles: an event 17:00-18:00 local on Monday 2026-03-09, the
    day after the spring change (PST -> PDT). The baseline days are the local weekdays
    before it, and each day's interval is 17:00 local (01:00 UTC before the change, 00:00
    UTC after), not the same UTC hour."""
    tz = ZoneInfo("America/Los_Angeles")
    start = datetime(2026, 3, 9, 17, tzinfo=tz).astimezone(UTC)
    load: dict[datetime, float] = {}
    for day in range(2, 10):  # Mon 03-02 .. Mon 03-09
        for hour in range(14, 20):
            local = datetime(2026, 3, day, hour, tzinfo=tz)
            # the load peaks at 17:00 local every day: 200 kW, else 100
            load[local.astimezone(UTC)] = 200.0 if hour == 17 else 100.0
    load[start] = 150.0
    result = verify(HighXOfY(x=5, y=5, adjust_hours=0), load, start, start + H, H, tz=tz)
    # local weekdays Fri 03-06 .. Mon 03-02 (Sat 03-07 and Sun 03-08 excluded locally)
    assert result.days_used == tuple(date(2026, 3, d) for d in (6, 5, 4, 3, 2))
    assert [i.baseline_kw for i in result.intervals] == pytest.approx([200.0])
    assert result.delivered_kwh == pytest.approx(50.0)


def test_an_event_that_starts_off_the_interval_grid_is_measured() -> None:
    """An OpenADR event may start at any minute (17:10) or at a local hour of a :30 time
    zone. Resampled on the epoch's grid (17:00, 17:15, ...) the meter had no interval at
    17:10 on any day, and the M&V failed with 'only 0 eligible days'. Resampled from the
    event's start, the intervals are the event's."""
    step = timedelta(minutes=15)
    t0 = datetime(2026, 6, 25, tzinfo=UTC)
    start = datetime(2026, 7, 13, 17, 10, tzinfo=UTC)
    samples = [(t0 + timedelta(minutes=m), 100.0) for m in range(0, 20 * 24 * 60, 5)]
    samples = [(t, 80.0 if start <= t < start + H else v) for t, v in samples]
    load = resample(samples, step, origin=start)
    result = verify(HighXOfY(x=3, y=5, adjust_hours=0), load, start, start + H, step)
    assert result.intervals[0].start == start
    assert result.delivered_kwh == pytest.approx(20.0)

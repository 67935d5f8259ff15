import math
from datetime import UTC, datetime, timedelta

import polars as pl

from forecasting import EngineConfig, ForecastEngine, Selection, clean
from forecasting.intervals import HOURS, apply, halfwidths, held_out_coverage
from forecasting.synth import make_frame


def _cv(errors_by_hour: dict[int, list[float]], windows: int = 3) -> pl.DataFrame:
    """A backtest frame whose model is off by the given errors at each hour."""
    rows = []
    start = datetime(2026, 7, 1)
    for w in range(windows):
        cutoff = start + timedelta(days=w)
        for hour in range(HOURS):
            for k, err in enumerate(errors_by_hour.get(hour, [0.0])):
                ds = cutoff + timedelta(hours=hour, minutes=15 * (k % 4))
                rows.append(("pv_1", ds, cutoff, 10.0 + err, 10.0))
    return pl.DataFrame(rows, schema=["unique_id", "ds", "cutoff", "y", "M"], orient="row")


def test_widths_follow_the_hour_of_day_exact_at_night_wide_at_noon() -> None:
    noon = {h: [1.0, -2.0, 3.0, -4.0] for h in range(10, 15)}
    widths = halfwidths(_cv(noon), "M", (80, 95))["pv_1"]
    assert widths["80"][0] == 0.0 and widths["95"][3] == 0.0  # night: never wrong
    assert 3.0 <= widths["80"][12] <= widths["95"][12] <= 4.0
    frame = pl.DataFrame(
        {
            "unique_id": ["pv_1", "pv_1", "other"],
            "ds": [datetime(2026, 8, 1, 0, tzinfo=UTC), datetime(2026, 8, 1, 12, tzinfo=UTC)] * 1
            + [datetime(2026, 8, 1, 12, tzinfo=UTC)],
            "model": ["M"] * 3,
            "yhat": [5.0, 50.0, 7.0],
            "lo_80": [1.0, 1.0, 6.0],
            "hi_80": [9.0, 99.0, 8.0],
            "lo_95": [0.0, 0.0, 5.0],
            "hi_95": [10.0, 100.0, 9.0],
        }
    )
    out = apply(frame, {"pv_1": widths}, (80, 95))
    assert out.columns == frame.columns
    assert out["lo_80"].to_list()[:2] == [5.0, 50.0 - widths["80"][12]]
    assert out.row(2) == frame.row(2)  # a series without calibration keeps its own


def test_engine_intervals_cover_a_day_they_never_saw() -> None:
    """Select on history up to a cutoff, forecast the next day, count the actuals inside."""
    full = make_frame(12, 30, seed=301)
    cut = full["ds"].max() - timedelta(days=1)
    engine = ForecastEngine(EngineConfig(horizon=timedelta(hours=24), n_jobs=1))
    data = clean(full.filter(pl.col("ds") <= cut))
    selection = engine.select(data, cut)
    assert all(len(c.interval_halfwidths["80"]) == HOURS for c in selection.choices.values())
    assert Selection.from_json(selection.to_json()) == selection
    result = engine.forecast(data, selection)
    assert {m["intervals"] for m in result.metadata.values()} == {
        "calibrated on backtest errors by hour of day"
    }
    joined = result.frame.join(full.filter(pl.col("ds") > cut), on=["unique_id", "ds"])
    assert joined.height == 12 * 96

    def inside(level: int) -> float:
        lo, hi = joined[f"lo_{level}"], joined[f"hi_{level}"]
        return float(((joined["y"] >= lo) & (joined["y"] <= hi)).mean())

    # statsforecast's conformal intervals (a quantile of 3 numbers) covered 62-72 % here
    assert 0.74 <= inside(80) <= 0.9
    assert inside(95) >= 0.88


def test_held_out_coverage_needs_two_windows() -> None:
    assert math.isnan(held_out_coverage(_cv({}, windows=1), "M", 80))
    assert held_out_coverage(_cv({12: [1.0, 2.0, 3.0, 4.0]}), "M", 80) >= 0.75

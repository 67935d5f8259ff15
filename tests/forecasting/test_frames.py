from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from forecasting import FrameError, clean


def _series(n: int, start: datetime, step_min: int = 15, uid: str = "a") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "unique_id": [uid] * n,
            "ds": [start + timedelta(minutes=step_min * i) for i in range(n)],
            "y": [float(i % 96) for i in range(n)],
        }
    )


START = datetime(2026, 3, 1, tzinfo=UTC)


def test_clean_frame_passes_untouched() -> None:
    out = clean(_series(200, START))
    assert out.frame.height == 200
    assert not out.flags["a"].repaired
    assert out.frame.schema["ds"] == pl.Datetime("us", "UTC")


def test_gaps_duplicates_nan_and_off_grid_are_repaired_and_flagged() -> None:
    raw = _series(400, START)
    rows = raw.to_dicts()
    del rows[100:103]  # short gap: interpolated
    del rows[200:300]  # long gap: filled from the previous day
    rows.append(dict(rows[10]))  # duplicate
    rows[20]["y"] = float("nan")
    rows[30]["ds"] = rows[30]["ds"] + timedelta(minutes=2)  # off grid
    out = clean(pl.DataFrame(rows))
    flags = out.flags["a"]
    assert flags.duplicates_dropped == 1
    assert flags.nan_filled == 1
    assert flags.off_grid_snapped == 1
    assert flags.gaps_filled == 103
    assert out.frame.height == 400
    assert out.frame["y"].is_finite().all()
    diffs = out.frame["ds"].diff().drop_nulls().unique().to_list()
    assert diffs == [timedelta(minutes=15)]
    # the long gap took yesterday's values (the series repeats daily)
    repaired = out.frame.filter(pl.col("ds") == START + timedelta(minutes=15 * 250))["y"][0]
    assert repaired == pytest.approx(float(250 % 96))


def test_local_time_with_dst_shift_becomes_a_regular_utc_grid() -> None:
    # Europe/Berlin springs forward on 2026-03-29 at 02:00 local
    local = [datetime(2026, 3, 28, 12, 0) + timedelta(minutes=15 * i) for i in range(200)]
    raw = pl.DataFrame({"unique_id": ["a"] * 200, "ds": local, "y": [1.0] * 200})
    with pytest.raises(FrameError, match="timezone-naive"):
        clean(raw)
    out = clean(raw, tz="Europe/Berlin")
    assert out.tz_converted_from == "Europe/Berlin"
    diffs = out.frame["ds"].diff().drop_nulls().unique().to_list()
    assert diffs == [timedelta(minutes=15)]
    # the non-existent local hour 02:00-02:45 does not exist in UTC: 196 slots, no gap
    assert out.frame.height == 196
    assert out.flags["a"].gaps_filled == 0


def test_bad_frames_get_errors_naming_the_fix() -> None:
    with pytest.raises(FrameError, match="lacks column"):
        clean(pl.DataFrame({"id": [1], "ds": [START], "y": [1.0]}))
    with pytest.raises(FrameError, match="no rows"):
        clean(_series(0, START))
    with pytest.raises(FrameError, match="freq"):
        clean(_series(10, START), "5s")
    with pytest.raises(FrameError, match="no finite y"):
        clean(_series(10, START).with_columns(pl.lit(float("nan")).alias("y")))


def test_hourly_frequency() -> None:
    out = clean(_series(48, START, step_min=60), "1h")
    assert out.freq == "1h"
    assert out.frame.height == 48

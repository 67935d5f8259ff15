"""The dataframe boundary: check and regularise ``unique_id, ds, y`` frames.

Bad input is repaired where that is safe and every repair is flagged per series
(duplicates dropped, irregular timestamps snapped, gaps and NaN filled, local
times converted to UTC); what cannot be repaired raises :class:`FrameError`
naming the column and the fix. The raw frame is never modified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

REQUIRED = ("unique_id", "ds", "y")
FREQS: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
}
#: gaps longer than this many steps are filled from the previous day, not interpolated
MAX_INTERPOLATE_STEPS = 4


class ForecastError(Exception):
    """Root of forecasting errors."""


class FrameError(ForecastError, ValueError):
    """The input frame cannot be used; the message names the problem and the fix."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesFlags:
    """What was repaired in one series, for the forecast's metadata."""

    duplicates_dropped: int = 0
    off_grid_snapped: int = 0
    gaps_filled: int = 0
    nan_filled: int = 0

    @property
    def repaired(self) -> bool:
        return any(
            (self.duplicates_dropped, self.off_grid_snapped, self.gaps_filled, self.nan_filled)
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "duplicates_dropped": self.duplicates_dropped,
            "off_grid_snapped": self.off_grid_snapped,
            "gaps_filled": self.gaps_filled,
            "nan_filled": self.nan_filled,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CleanFrame:
    """A regular, sorted, gap-free frame in UTC plus what was done to get there."""

    frame: pl.DataFrame
    freq: str
    flags: dict[str, SeriesFlags] = field(default_factory=dict)
    tz_converted_from: str | None = None

    @property
    def step(self) -> timedelta:
        return FREQS[self.freq]


def parse_freq(freq: str) -> str:
    aliases = {"15m": "15m", "15min": "15m", "1h": "1h", "h": "1h", "60m": "1h", "hourly": "1h"}
    key = aliases.get(freq.strip().lower())
    if key is None:
        raise FrameError(f"freq {freq!r} is not supported: use 15m or 1h")
    return key


def clean(raw: pl.DataFrame, freq: str = "15m", *, tz: str | None = None) -> CleanFrame:
    """Validate and regularise ``raw`` onto a ``freq`` grid in UTC.

    ``ds`` may be UTC-aware, aware in another zone (converted), or naive with
    ``tz`` naming the local zone it was recorded in (converted, so DST shifts
    become a regular UTC grid). Naive without ``tz`` is refused.
    """
    freq = parse_freq(freq)
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise FrameError(
            f"input frame lacks column(s) {', '.join(missing)}: "
            f"expected unique_id, ds, y (got {', '.join(raw.columns) or 'none'})"
        )
    if raw.height == 0:
        raise FrameError("input frame has no rows: give at least one day of history per series")
    frame = raw.with_columns(pl.col("unique_id").cast(pl.String))
    ds_type = frame.schema["ds"]
    if not isinstance(ds_type, pl.Datetime):
        raise FrameError(f"column ds has type {ds_type}: it must be a datetime (UTC-aware)")
    converted_from: str | None = None
    if ds_type.time_zone is None:
        if tz is None:
            raise FrameError(
                "column ds is timezone-naive: store UTC-aware timestamps, or pass tz= "
                "(CLI: --tz Europe/Berlin) naming the local zone they were recorded in"
            )
        frame = frame.with_columns(
            pl.col("ds").dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
        )
        converted_from = tz
    elif ds_type.time_zone != "UTC":
        converted_from = ds_type.time_zone
    frame = frame.with_columns(
        pl.col("ds").dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
        pl.col("y").cast(pl.Float64),
    ).filter(pl.col("ds").is_not_null())
    extra = [c for c in frame.columns if c not in REQUIRED]
    for col in extra:
        if not frame.schema[col].is_numeric():
            raise FrameError(f"exogenous column {col!r} is {frame.schema[col]}: must be numeric")
    frame = frame.with_columns(pl.col(c).cast(pl.Float64) for c in extra)
    step = FREQS[freq]
    flags: dict[str, SeriesFlags] = {}
    parts: list[pl.DataFrame] = []
    for (uid,), part in frame.sort("unique_id", "ds").group_by("unique_id", maintain_order=True):
        cleaned, flag = _regularise(part, step, extra)
        if cleaned.height == 0:
            raise FrameError(f"series {uid!r} has no finite y values: drop it or fix the source")
        flags[str(uid)] = flag
        parts.append(cleaned)
    out = pl.concat(parts).select(["unique_id", "ds", "y", *extra])
    return CleanFrame(frame=out, freq=freq, flags=flags, tz_converted_from=converted_from)


def _regularise(
    part: pl.DataFrame, step: timedelta, extra: list[str]
) -> tuple[pl.DataFrame, SeriesFlags]:
    uid = part["unique_id"][0]
    n_raw = part.height
    # snap off-grid timestamps to the nearest grid point
    snapped = part.with_columns(pl.col("ds").dt.round(_every(step)).alias("_snap"))
    off_grid = int((snapped["_snap"] != snapped["ds"]).sum())
    snapped = snapped.with_columns(pl.col("_snap").alias("ds")).drop("_snap")
    # duplicates (same slot after snapping): keep the last reported value
    deduped = snapped.unique(subset=["ds"], keep="last", maintain_order=True).sort("ds")
    n_dup = n_raw - deduped.height
    nan_mask = deduped["y"].is_nan() | deduped["y"].is_null()
    n_nan = int(nan_mask.sum())
    deduped = deduped.with_columns(
        pl.when(pl.col("y").is_nan()).then(None).otherwise(pl.col("y")).alias("y")
    )
    valid = deduped.filter(pl.col("y").is_not_null())
    if valid.height == 0:
        return valid, SeriesFlags()
    first, last = valid["ds"].min(), valid["ds"].max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    grid = pl.DataFrame(
        {
            "ds": pl.datetime_range(
                first, last, _every(step), time_zone="UTC", eager=True
            ).dt.cast_time_unit("us")
        }
    )
    full = grid.join(deduped.drop("unique_id"), on="ds", how="left")
    n_gap = grid.height - deduped.filter(pl.col("ds") >= first).height
    day = int(timedelta(days=1) / step)
    # short holes: linear interpolation; long holes: same slot yesterday, then interpolation
    filled = full.with_columns(
        pl.col("y").interpolate().alias("_lin"),
        pl.col("y").is_null().alias("_hole"),
    ).with_columns(
        pl.col("_hole").rle_id().alias("_run"),
    )
    run_len = filled.group_by("_run").agg(pl.len().alias("_len"))
    filled = filled.join(run_len, on="_run", how="left").sort("ds")
    filled = filled.with_columns(
        pl.when(pl.col("_hole") & (pl.col("_len") > MAX_INTERPOLATE_STEPS))
        .then(pl.col("y").shift(day))
        .otherwise(pl.col("y"))
        .alias("y")
    ).with_columns(pl.col("y").interpolate().forward_fill().backward_fill())
    filled = filled.with_columns(
        pl.col(c).interpolate().forward_fill().backward_fill() for c in extra
    )
    out = filled.select(pl.lit(uid).alias("unique_id"), "ds", "y", *extra)
    return out, SeriesFlags(
        duplicates_dropped=n_dup,
        off_grid_snapped=off_grid,
        gaps_filled=max(n_gap, 0),
        nan_filled=n_nan,
    )


def _every(step: timedelta) -> str:
    return f"{int(step.total_seconds() // 60)}m"


def season_lengths(freq: str) -> tuple[int, int]:
    """(daily, weekly) season lengths in steps for ``freq``."""
    per_day = int(timedelta(days=1) / FREQS[parse_freq(freq)])
    return per_day, 7 * per_day

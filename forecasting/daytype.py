"""The calendar-aware DayType model over a whole frame: rolling backtest, conformal
intervals from at least 14 days of out-of-sample errors, and the next-day forecast.

Every series is put on a local-time day matrix ([local day, 15-min slot]); each day is
forecast from the days before it only (:func:`forecasting.calendar_model.daytype_profile`).
The last ``calib_days`` days so forecast give the out-of-sample errors: their 80/95 %
quantiles per series and hour-of-day class (the local hour and one either side) are the
interval half-widths (split conformal, rolling with the history). A series whose
history never goes below zero (load, PV) is clipped at 0; with a rating, PV at the rating.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from forecasting.calendar import SiteCalendar
from forecasting.calendar_model import daytype_profile
from forecasting.frames import CleanFrame, ForecastError
from forecasting.metrics import naive_scale

NAME = "DayType"
SLOTS = 96
MIN_CALIB_DAYS = 14
LEVELS = (80, 95)


@dataclass(frozen=True, slots=True, kw_only=True)
class DayTypeFit:
    """Per series: backtest MASE over the last ``windows`` days, and half-widths [24] by
    local hour per level, from ``calib_days`` days of out-of-sample errors."""

    mase: dict[str, float]
    halfwidths: dict[str, dict[str, list[float]]]
    calib_days: dict[str, int]


def _local(frame: pl.DataFrame, tz: str) -> pl.DataFrame:
    loc = pl.col("ds").dt.convert_time_zone(tz)
    return frame.with_columns(
        loc.dt.date().alias("day"),
        (loc.dt.hour().cast(pl.Int64) * 4 + loc.dt.minute().cast(pl.Int64) // 15).alias("slot"),
    )


def _matrices(clean: CleanFrame, cal: SiteCalendar) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if clean.freq != "15m":
        raise ForecastError(f"the DayType model needs 15m data, got {clean.freq}")
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    local = _local(clean.frame.select("unique_id", "ds", "y"), cal.tz)
    for (uid,), part in local.group_by("unique_id", maintain_order=True):
        days_col = part["day"].to_numpy().astype("datetime64[D]")
        days = np.unique(days_col)
        mat = np.full((len(days), SLOTS), np.nan)
        mat[np.searchsorted(days, days_col), part["slot"].to_numpy()] = part["y"].to_numpy()
        out[str(uid)] = (days, mat)
    return out


def _complete(days: np.ndarray, mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop a partial first and last day (fewer than 90 % of slots)."""
    full = np.isfinite(mat).sum(axis=1) >= 0.9 * SLOTS - 8
    keep = np.ones(len(days), dtype=bool)
    if len(days) and not full[0]:
        keep[0] = False
    if len(days) > 1 and not full[-1]:
        keep[-1] = False
    return days[keep], mat[keep]


def fit(
    clean: CleanFrame, cal: SiteCalendar, *, windows: int, calib_days: int = MIN_CALIB_DAYS
) -> DayTypeFit:
    """Rolling one-day-ahead backtest over the last ``max(windows, calib_days)`` days."""
    mase: dict[str, float] = {}
    widths: dict[str, dict[str, list[float]]] = {}
    n_calib: dict[str, int] = {}
    for uid, (days_all, mat_all) in _matrices(clean, cal).items():
        days, mat = _complete(days_all, mat_all)
        types = cal.day_types(days)
        n_back = min(max(windows, calib_days), len(days) - 7)
        if n_back < windows:
            continue
        errs = np.full((n_back, SLOTS), np.nan)
        for k in range(n_back):
            i = len(days) - n_back + k
            fc = daytype_profile(mat[:i], types[:i], types[i : i + 1])[0]
            errs[k] = mat[i] - fc
        past = mat[: len(days) - windows].ravel()
        scale = naive_scale(past[np.isfinite(past)], SLOTS)
        mae = float(np.nanmean(np.abs(errs[-windows:])))
        mase[uid] = mae / scale if np.isfinite(scale) else float("nan")
        if n_back >= calib_days:
            widths[uid] = _halfwidths(np.abs(errs))
            n_calib[uid] = n_back
    return DayTypeFit(mase=mase, halfwidths=widths, calib_days=n_calib)


def _halfwidths(abs_err: np.ndarray) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for lv in LEVELS:
        hw = []
        for hour in range(24):
            cols = [((hour + d) % 24) * 4 + q for d in (-1, 0, 1) for q in range(4)]
            v = abs_err[:, cols].ravel()
            v = v[np.isfinite(v)]
            # split conformal: the ceil((n+1) L)-th smallest error
            rank = min(len(v) - 1, int(np.ceil((len(v) + 1) * lv / 100)) - 1)
            hw.append(float(np.sort(v)[rank]) if len(v) else float("nan"))
        out[str(lv)] = hw
    return out


def forecast(
    clean: CleanFrame,
    cal: SiteCalendar,
    ids: list[str],
    h: int,
    fitted: DayTypeFit,
    ratings_kw: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """Columns unique_id, ds (UTC), model, yhat, lo_80, hi_80, lo_95, hi_95 for ``h`` steps
    after each series' last sample."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(cal.tz)
    sub = CleanFrame(frame=clean.frame.filter(pl.col("unique_id").is_in(ids)), freq=clean.freq)
    mats = _matrices(sub, cal)
    rows: list[pl.DataFrame] = []
    last_ds = dict(clean.frame.group_by("unique_id").agg(pl.col("ds").max()).iter_rows())
    for uid in ids:
        days_all, mat_all = mats[uid]
        last = last_ds[uid]
        assert isinstance(last, datetime)
        future = [last + timedelta(minutes=15 * (k + 1)) for k in range(h)]
        loc = [t.astimezone(zone) for t in future]
        fdays = np.array([t.date() for t in loc], dtype="datetime64[D]")
        fslot = np.array([t.hour * 4 + t.minute // 15 for t in loc])
        fhour = np.array([t.hour for t in loc])
        days, mat = _complete(days_all, mat_all)
        hist_ok = days < fdays.min()
        days, mat = days[hist_ok], mat[hist_ok]
        targets = np.unique(fdays)
        prof = daytype_profile(mat, cal.day_types(days), cal.day_types(targets))
        yhat = prof[np.searchsorted(targets, fdays), fslot]
        # the DST day's missing slots: the neighbouring slot
        yhat = np.where(np.isfinite(yhat), yhat, np.nanmean(prof))
        cols: dict[str, object] = {
            "unique_id": [uid] * h,
            "ds": future,
            "model": [NAME] * h,
            "yhat": yhat,
        }
        hw = fitted.halfwidths.get(uid)
        lo_clip = 0.0 if np.nanmin(mat) >= 0 else -np.inf
        hi_clip = (ratings_kw or {}).get(uid, np.inf)
        for lv in LEVELS:
            width = np.asarray(hw[str(lv)])[fhour] if hw else np.full(h, np.nan)
            cols[f"lo_{lv}"] = np.clip(yhat - width, lo_clip, hi_clip)
            cols[f"hi_{lv}"] = np.clip(yhat + width, lo_clip, hi_clip)
        rows.append(pl.DataFrame(cols))
    out = pl.concat(rows)
    return out.with_columns(pl.col("ds").dt.cast_time_unit("us").dt.convert_time_zone("UTC"))

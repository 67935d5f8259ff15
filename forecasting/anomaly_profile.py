"""Per-series anomaly detection against the series' own seasonal profile.

Each series is compared with its OWN recent past, slot for slot in local time:

- reference: the median, per 15-min local slot, of the last ``ref_days`` days of the
  same day type (workday / Saturday / Sunday-or-holiday, :mod:`forecasting.calendar`),
  so a commercial site's 07:30 switch-on is expected on a workday and not on a holiday;
- scale: the robust spread (1.4826 x MAD) of out-of-sample residuals per hour of day
  (the hour and one either side), floored at a small share of the series' level, so
  PV is exact at night and uncertain at noon;
- three scores per sample: the residual ``|z|``; a spike score (the sample against the
  mean of its two neighbours, scaled the same way per hour); and a two-sided CUSUM of
  the clipped residual for level shifts;
- thresholds per series and score: calibrated on the series' own history (the highest
  out-of-sample score seen on normal days, times a margin).

Functional core: numpy in, numpy out; the caller supplies the local dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from forecasting.calendar import SiteCalendar
from forecasting.frames import ForecastError

SLOTS = 96  # 15-min slots per local day
MAD_TO_SD = 1.4826


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorConfig:
    ref_days: int = 4  # same-type days in the reference median
    cusum_k: float = 0.5  # CUSUM drift allowance (robust SDs)
    cusum_leak: float = 0.9  # memory of the CUSUM per step (about 2.5 h): old drift fades
    clip_z: float = 4.0  # residuals clipped before the CUSUM (a spike is not a shift)
    floor_share: float = 0.02  # scale floor: share of the series' median non-zero level
    margin: float = 1.2  # threshold = margin x highest calibration score
    min_calib_days: int = 7


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesDetector:
    """What calibration learned about one series."""

    scale: np.ndarray  # [SLOTS] residual scale per slot
    bias: np.ndarray  # [SLOTS] median residual per slot (the median reference is biased)
    spike_scale: np.ndarray  # [SLOTS] neighbour-difference scale per slot
    thr_z: float
    thr_spike: float
    thr_cusum: float
    level: float  # median non-zero level (for the floor and reports)
    calib_days: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Scores:
    z: np.ndarray  # [n] residual scores
    spike: np.ndarray  # [n]
    cusum: np.ndarray  # [n]
    alarm: np.ndarray  # [n] bool
    reasons: list[str] = field(default_factory=list)


def day_matrix(
    y: np.ndarray, local_day: np.ndarray, local_slot: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(dates [D], values [D, SLOTS]) with NaN where a slot has no sample (DST gaps)."""
    days = np.unique(local_day)
    idx = np.searchsorted(days, local_day)
    mat = np.full((len(days), SLOTS), np.nan)
    mat[idx, local_slot] = y
    return days, mat


def reference(mat: np.ndarray, types: np.ndarray, ref_days: int) -> np.ndarray:
    """Per day, the slot-wise median of the previous ``ref_days`` days of the same type
    (NaN where there are none yet)."""
    ref = np.full_like(mat, np.nan)
    for t in np.unique(types):
        rows = np.flatnonzero(types == t)
        for k, r in enumerate(rows):
            prev = rows[max(0, k - ref_days) : k]
            if len(prev):
                ref[r] = np.nanmedian(mat[prev], axis=0)
    # a day type never seen yet (first holiday): fall back to Sundays, then any day
    missing = np.isnan(ref).all(axis=1)
    for r in np.flatnonzero(missing):
        prev = np.flatnonzero(np.arange(len(mat)) < r)[-ref_days:]
        if len(prev):
            ref[r] = np.nanmedian(mat[prev], axis=0)
    return ref


def _by_hour(values: np.ndarray, stat: str) -> np.ndarray:
    """Per slot: robust scale of ``values`` [D, SLOTS] pooled over the hour +-1 h."""
    out = np.empty(SLOTS)
    for s in range(SLOTS):
        cols = [(s + d) % SLOTS for d in range(-4, 5)]
        v = values[:, cols].ravel()
        v = v[np.isfinite(v)]
        if v.size == 0:
            out[s] = np.nan
        elif stat == "mad":
            out[s] = MAD_TO_SD * float(np.median(np.abs(v - np.median(v))))
        else:
            out[s] = float(np.sqrt(np.mean(v**2)))
    return out


def _neighbour(flat: np.ndarray) -> np.ndarray:
    """Sample minus the mean of its neighbours (NaN at the ends)."""
    e = np.full_like(flat, np.nan)
    e[1:-1] = flat[1:-1] - 0.5 * (flat[:-2] + flat[2:])
    return e


def _cusum(z: np.ndarray, k: float, clip: float, leak: float) -> np.ndarray:
    zc = np.clip(np.nan_to_num(z), -clip, clip)
    hi = np.zeros_like(zc)
    lo = np.zeros_like(zc)
    s_hi = s_lo = 0.0
    for i, v in enumerate(zc):
        s_hi = max(0.0, leak * s_hi + v - k)
        s_lo = max(0.0, leak * s_lo - v - k)
        hi[i], lo[i] = s_hi, s_lo
    out: np.ndarray = np.maximum(hi, lo)
    return out


def _raw_scores(
    mat: np.ndarray,
    ref: np.ndarray,
    bias: np.ndarray,
    scale: np.ndarray,
    spike_scale: np.ndarray,
    cfg: DetectorConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z = (mat - ref - bias[None, :]) / scale[None, :]
    flat = mat.ravel()
    spike = np.abs(_neighbour(flat)).reshape(mat.shape) / spike_scale[None, :]
    cus = _cusum(z.ravel(), cfg.cusum_k, cfg.clip_z, cfg.cusum_leak).reshape(mat.shape)
    return np.abs(z), spike, cus


def calibrate(
    mat: np.ndarray, types: np.ndarray, cfg: DetectorConfig | None = None
) -> SeriesDetector:
    """Learn one series' scales and thresholds from its history ``mat`` [D, SLOTS]."""
    cfg = cfg or DetectorConfig()
    ref = reference(mat, types, cfg.ref_days)
    # calibrate only on days whose reference came from >= 2 earlier days of their own type
    seen = np.array([int((types[:i] == t).sum()) for i, t in enumerate(types)])
    usable = ~np.isnan(ref).all(axis=1) & (seen >= 2)
    if usable.sum() < cfg.min_calib_days:
        raise ForecastError(
            f"anomaly calibration needs {cfg.min_calib_days} days with a reference, got "
            f"{int(usable.sum())}: give at least {cfg.min_calib_days + 14} days of history"
        )
    finite = mat[np.isfinite(mat)]
    nz = finite[np.abs(finite) > 1e-9]
    level = float(np.median(np.abs(nz))) if nz.size else 1.0
    floor = max(cfg.floor_share * level, 1e-9)
    resid = (mat - ref)[usable]
    scale = np.maximum(np.nan_to_num(_by_hour(resid, "mad"), nan=floor), floor)
    bias = np.nan_to_num(np.nanmedian(resid, axis=0), nan=0.0)
    neigh = _neighbour(mat.ravel()).reshape(mat.shape)[usable]
    spike_scale = np.maximum(np.nan_to_num(_by_hour(neigh, "mad"), nan=floor), floor)
    z, spike, cus = _raw_scores(mat, ref, bias, scale, spike_scale, cfg)
    z, spike, cus = z[usable], spike[usable], cus[usable]
    return SeriesDetector(
        scale=scale,
        bias=bias,
        spike_scale=spike_scale,
        thr_z=cfg.margin * float(np.nanmax(z)),
        thr_spike=cfg.margin * float(np.nanmax(spike)),
        thr_cusum=cfg.margin * float(np.nanmax(cus)),
        level=level,
        calib_days=int(usable.sum()),
    )


def score(
    det: SeriesDetector,
    mat: np.ndarray,
    types: np.ndarray,
    cfg: DetectorConfig | None = None,
) -> Scores:
    """Scores and alarms for every sample of ``mat`` [D, SLOTS] (history + new days: the
    reference of each day only uses earlier days)."""
    cfg = cfg or DetectorConfig()
    ref = reference(mat, types, cfg.ref_days)
    z, spike, cus = _raw_scores(mat, ref, det.bias, det.scale, det.spike_scale, cfg)
    z, spike, cus = z.ravel(), spike.ravel(), cus.ravel()
    alarm = (
        (np.nan_to_num(z) > det.thr_z)
        | (np.nan_to_num(spike) > det.thr_spike)
        | (np.nan_to_num(cus) > det.thr_cusum)
    )
    return Scores(z=z, spike=spike, cusum=cus, alarm=alarm)


def local_grid(
    ds_utc: list[object] | np.ndarray, cal: SiteCalendar
) -> tuple[np.ndarray, np.ndarray]:
    """(local date [n] datetime64[D], local 15-min slot [n]) of UTC instants."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(cal.tz)
    days, slots = [], []
    for t in ds_utc:
        assert isinstance(t, datetime)
        loc = t.astimezone(zone)
        days.append(loc.date())
        slots.append(loc.hour * 4 + loc.minute // 15)
    return np.array(days, dtype="datetime64[D]"), np.array(slots, dtype=np.int64)

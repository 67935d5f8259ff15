"""Simulator-like synthetic load and PV series, for training, tests and benchmarks.

Deterministic for a seed. Load: a daily shape (morning and evening peaks), a
weekend dip, a temperature-driven component, AR(1) weather-like deviations and
white noise. PV: a clear-sky bell times a persistent cloudiness factor.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

DEFAULT_START = datetime(2026, 6, 1, tzinfo=UTC)
PV_SHARE = 0.25  # the first quarter of the series are PV


def temperature_c(times_h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A daily temperature swing plus slow synoptic drift (°C)."""
    n = len(times_h)
    hour = times_h % 24.0
    daily = 6.0 * np.sin(2 * np.pi * (hour - 9.0) / 24.0)
    drift = np.cumsum(rng.normal(0.0, 0.08, n))
    drift -= np.linspace(drift[0], drift[-1], n) * 0.5
    return 20.0 + daily + drift


def load_kw(
    times_h: np.ndarray, temp_c: np.ndarray, rng: np.random.Generator, scale_kw: float
) -> np.ndarray:
    hour = times_h % 24.0
    day = (times_h // 24.0).astype(int) % 7
    morning = np.exp(-0.5 * ((hour - 8.0) / 1.5) ** 2)
    evening = np.exp(-0.5 * ((hour - 19.0) / 2.0) ** 2)
    base = 0.45 + 0.25 * morning + 0.45 * evening
    weekend = np.where(day >= 5, 0.85 + 0.1 * morning, 1.0)
    cooling = 0.02 * np.clip(temp_c - 22.0, 0.0, None)
    ar = np.zeros(len(times_h))
    shocks = rng.normal(0.0, 0.015, len(times_h))
    for i in range(1, len(ar)):
        ar[i] = 0.97 * ar[i - 1] + shocks[i]
    noise = rng.normal(0.0, 0.03, len(times_h))
    return scale_kw * np.clip(base * weekend + cooling + ar + noise, 0.05, None)


def pv_kw(times_h: np.ndarray, rng: np.random.Generator, rated_kw: float) -> np.ndarray:
    hour = times_h % 24.0
    bell = np.clip(np.sin(np.pi * (hour - 6.0) / 14.0), 0.0, None) ** 1.5
    cloud = np.zeros(len(times_h))
    shocks = rng.normal(0.0, 0.05, len(times_h))
    for i in range(1, len(cloud)):
        cloud[i] = 0.98 * cloud[i - 1] + shocks[i]
    factor = np.clip(0.85 + cloud, 0.1, 1.0)
    return rated_kw * bell * factor


def make_frame(
    n_series: int,
    n_days: int,
    *,
    freq_min: int = 15,
    seed: int = 0,
    pv_share: float = PV_SHARE,
    start: datetime = DEFAULT_START,
    with_temperature: bool = False,
) -> pl.DataFrame:
    """A long frame ``unique_id, ds, y`` (plus ``temp_c`` if asked), sorted."""
    rng = np.random.default_rng(seed)
    steps = n_days * 24 * 60 // freq_min
    times_h = np.arange(steps) * freq_min / 60.0
    ds = [start + timedelta(minutes=freq_min * i) for i in range(steps)]
    temp = temperature_c(times_h, rng)
    frames = []
    n_pv = round(n_series * pv_share)
    for k in range(n_series):
        if k < n_pv:
            uid = f"pv_{k:03d}"
            y = pv_kw(times_h, rng, rated_kw=float(rng.uniform(50, 500)))
        else:
            uid = f"load_{k:03d}"
            y = load_kw(times_h, temp, rng, scale_kw=float(rng.uniform(20, 800)))
        cols: dict[str, object] = {"unique_id": [uid] * steps, "ds": ds, "y": y}
        if with_temperature:
            cols["temp_c"] = temp
        frames.append(pl.DataFrame(cols))
    out = pl.concat(frames)
    return out.with_columns(pl.col("ds").dt.cast_time_unit("us"))

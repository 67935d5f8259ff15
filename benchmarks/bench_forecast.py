"""Forecast refresh for 200 series x 4 weeks of 15-min history, 24 h horizon, vs MSTL.

The engine's model selection (rolling-origin backtest, on a schedule) and its
refresh (every cycle) are timed on all 200 series with both cores. The MSTL
(daily, weekly) baseline is slow (seconds per series), so it is measured on a
subset in the same run and its time for 200 series is extrapolated linearly.
Accuracy against MSTL is compared on HELD-OUT series (another seed than the data
the selection rule was tuned on; 4 PV and 12 load series drawn at random) over two
next-day origins (MASE, scaled by in-sample daily seasonal-naive MAE).
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.util import size

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / "var" / "numba"))

import numpy as np
import polars as pl
from statsforecast import StatsForecast

from forecasting import EngineConfig, ForecastEngine, clean
from forecasting.candidates import mstl
from forecasting.metrics import mase, naive_scale
from forecasting.synth import make_frame

N_SERIES = size(200, 8)
DAYS = size(28, 14)
H = 96
HELD_OUT_SEED = 2027  # never used to tune the candidates or the selection rule
N_PV, N_LOAD = size((4, 12), (1, 2))
ORIGINS = size(2, 1)


def held_out_subset() -> tuple[str, ...]:
    rng = np.random.default_rng(HELD_OUT_SEED)
    n_pv = N_SERIES // 4  # make_frame's PV share
    pv = rng.choice(n_pv, N_PV, replace=False)
    load = rng.choice(np.arange(n_pv, N_SERIES), N_LOAD, replace=False)
    return tuple([f"pv_{k:03d}" for k in sorted(pv)] + [f"load_{k:03d}" for k in sorted(load)])


SUBSET = held_out_subset()


def _mase_by_series(
    fc: pl.DataFrame, col: str, actual: pl.DataFrame, hist: pl.DataFrame
) -> dict[str, float]:
    out: dict[str, float] = {}
    joined = actual.join(fc.select("unique_id", "ds", col), on=["unique_id", "ds"])
    for (uid,), part in joined.group_by("unique_id"):
        y_hist = hist.filter(pl.col("unique_id") == uid)["y"].to_numpy()
        out[str(uid)] = mase(part["y"].to_numpy(), part[col].to_numpy(), naive_scale(y_hist, 96))
    return out


def simbench_frame(days: int) -> pl.DataFrame | None:
    """Real 15-min load (all *_pload) and PV profiles shipped in the simbench package."""
    import importlib.util

    spec = importlib.util.find_spec("simbench")
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations))) / "networks"
    folder = base / "1-complete_data-mixed-all-0-sw"
    load = pl.read_csv(folder / "LoadProfile.csv", separator=";", infer_schema=False)
    res = pl.read_csv(folder / "RESProfile.csv", separator=";", infer_schema=False)
    cols = [c for c in load.columns if c.endswith("_pload")]
    pv = [c for c in res.columns if c.startswith("PV")]
    wide = load.select("time", *cols).join(res.select("time", *pv), on="time")
    start = datetime(2016, 3, 7, tzinfo=UTC)  # a Monday; profiles are labelled 2016, no DST
    long = (
        wide.unpivot(index="time", variable_name="unique_id", value_name="y")
        .with_columns(
            pl.col("time")
            .str.strptime(pl.Datetime("us"), "%d.%m.%Y %H:%M")
            .dt.replace_time_zone("UTC")
            .alias("ds"),
            pl.col("y").cast(pl.Float64),
        )
        .filter((pl.col("ds") >= start) & (pl.col("ds") < start + timedelta(days=days)))
    )
    return long.select("unique_id", "ds", "y").sort("unique_id", "ds")


def simbench_rows() -> list[dict[str, object]]:
    full = simbench_frame(DAYS + 1)
    if full is None:
        return [
            {
                "name": "simbench_profiles",
                "value": None,
                "unit": "",
                "baseline": None,
                "ratio": None,
                "note": "simbench not installed: pip install -e '.[bench]'",
            }
        ]
    cut = full["ds"].min() + timedelta(days=DAYS)  # type: ignore[operator]
    hist = clean(full.filter(pl.col("ds") < cut))
    actual = full.filter(pl.col("ds") >= cut)
    engine = ForecastEngine(EngineConfig(horizon=timedelta(hours=24), n_jobs=2))
    t0 = time.perf_counter()
    selection = engine.select(hist, datetime.now(UTC))
    result = engine.forecast(hist, selection)
    wall = time.perf_counter() - t0
    eng = _mase_by_series(result.frame, "yhat", actual, hist.frame)
    snaive_fc = (
        hist.frame.group_by("unique_id")
        .tail(96)
        .with_columns((pl.col("ds") + timedelta(days=1)).alias("ds"), pl.col("y").alias("snaive"))
    )
    sn = _mase_by_series(snaive_fc, "snaive", actual, hist.frame)
    ids = [u for u in eng if np.isfinite(eng[u]) and np.isfinite(sn[u])]
    e, b = float(np.mean([eng[u] for u in ids])), float(np.mean([sn[u] for u in ids]))
    # MSTL (daily, weekly) on 16 of the real profiles drawn at random (seconds each)
    sample = sorted(np.random.default_rng(HELD_OUT_SEED).choice(sorted(ids), 16, replace=False))
    df = hist.frame.filter(pl.col("unique_id").is_in(sample)).select("unique_id", "ds", "y")
    mstl_fc = StatsForecast(models=[mstl(96, 672, H)], freq="15m", n_jobs=2).forecast(
        h=H, df=df.with_columns(pl.col("ds").dt.replace_time_zone(None))
    )
    ref = _mase_by_series(
        mstl_fc.with_columns(pl.col("ds").dt.replace_time_zone("UTC")), "MSTL", actual, hist.frame
    )
    e16 = float(np.mean([eng[u] for u in sample]))
    m16 = float(np.mean([ref[u] for u in sample]))
    return [
        {
            "name": "simbench_mase_vs_seasonal_naive",
            "value": round(e, 4),
            "unit": "MASE",
            "baseline": round(b, 4),
            "ratio": round(e / b, 4),
            "note": f"{len(ids)} real SimBench load+PV profiles, 4 weeks from 2016-03-07, next day",
        },
        {
            "name": "simbench_mase_vs_mstl",
            "value": round(e16, 4),
            "unit": "MASE",
            "baseline": round(m16, 4),
            "ratio": round(e16 / m16, 4),
            "note": "16 real SimBench profiles drawn at random, next day; target ratio <= 1.02",
        },
        {
            "name": "simbench_interval_coverage_80",
            "value": round(_coverage(result.frame, actual, 80), 4),
            "unit": "share",
            "baseline": 0.8,
            "ratio": round(_coverage(result.frame, actual, 80) / 0.8, 4),
            "note": f"{len(eng)} real profiles, next day; 95 %: "
            f"{_coverage(result.frame, actual, 95):.3f}",
        },
        {
            "name": "simbench_select_and_refresh_wall",
            "value": round(wall, 3),
            "unit": "s",
            "baseline": None,
            "ratio": None,
            "note": f"{len(eng)} series, 2 cores",
        },
    ]


def _subset_origin(
    full: pl.DataFrame, cut: datetime
) -> tuple[dict[str, float], dict[str, float], float]:
    """Engine and MSTL MASE per subset series for one origin, and MSTL wall seconds."""
    data = full.filter(pl.col("unique_id").is_in(SUBSET))
    hist = clean(data.filter((pl.col("ds") < cut) & (pl.col("ds") >= cut - timedelta(days=DAYS))))
    actual = data.filter((pl.col("ds") >= cut) & (pl.col("ds") < cut + timedelta(days=1)))
    engine = ForecastEngine(EngineConfig(horizon=timedelta(hours=24), n_jobs=1))
    fc = engine.forecast(hist, engine.select(hist, datetime.now(UTC))).frame
    eng = _mase_by_series(fc, "yhat", actual, hist.frame)
    sf = StatsForecast(models=[mstl(96, 672, H)], freq="15m", n_jobs=2)
    df = hist.frame.select("unique_id", "ds", "y").with_columns(
        pl.col("ds").dt.replace_time_zone(None)
    )
    t0 = time.perf_counter()
    mstl_fc = sf.forecast(h=H, df=df)
    mstl_s = time.perf_counter() - t0
    mstl_fc = mstl_fc.with_columns(pl.col("ds").dt.replace_time_zone("UTC"))
    return eng, _mase_by_series(mstl_fc, "MSTL", actual, hist.frame), mstl_s


def _coverage(fc: pl.DataFrame, actual: pl.DataFrame, level: int) -> float:
    j = actual.join(fc, on=["unique_id", "ds"])
    return float(((j["y"] >= j[f"lo_{level}"]) & (j["y"] <= j[f"hi_{level}"])).mean())


def run() -> list[dict[str, object]]:
    full = make_frame(N_SERIES, DAYS + ORIGINS, seed=42)
    held_out = make_frame(N_SERIES, DAYS + ORIGINS, seed=HELD_OUT_SEED)
    first = full["ds"].min()
    assert isinstance(first, datetime)
    cut = first + timedelta(days=DAYS)
    hist_raw = full.filter(pl.col("ds") < cut)
    actual = full.filter((pl.col("ds") >= cut) & (pl.col("ds") < cut + timedelta(days=1)))
    engine = ForecastEngine(EngineConfig(horizon=timedelta(hours=24), n_jobs=2))

    t0 = time.perf_counter()
    hist = clean(hist_raw)
    selection = engine.select(hist, datetime.now(UTC))
    select_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    result = engine.forecast(clean(hist_raw), selection)
    refresh_s = time.perf_counter() - t0
    engine_mase = _mase_by_series(result.frame, "yhat", actual, hist.frame)

    # MSTL baseline: numba compile / cache load first (not timed), then each origin
    warm = hist.frame.filter(pl.col("unique_id") == SUBSET[0]).select("unique_id", "ds", "y")
    StatsForecast(models=[mstl(96, 672, H)], freq="15m", n_jobs=1).forecast(
        h=H, df=warm.with_columns(pl.col("ds").dt.replace_time_zone(None))
    )
    eng_sub: list[float] = []
    mstl_sub: list[float] = []
    mstl_s = 0.0
    for k in range(ORIGINS):
        eng, ref, seconds = _subset_origin(held_out, cut + timedelta(days=k))
        eng_sub += [eng[u] for u in SUBSET]
        mstl_sub += [ref[u] for u in SUBSET]
        mstl_s += seconds
    mstl_200_s = mstl_s / (ORIGINS * len(SUBSET)) * N_SERIES  # on 2 cores

    snaive_fc = (
        hist.frame.group_by("unique_id")
        .tail(96)
        .with_columns((pl.col("ds") + timedelta(days=1)).alias("ds"), pl.col("y").alias("snaive"))
    )
    snaive_mase = _mase_by_series(snaive_fc, "snaive", actual, hist.frame)
    e_sub, m_sub = float(np.mean(eng_sub)), float(np.mean(mstl_sub))
    eng_all = float(np.mean(list(engine_mase.values())))
    snaive_all = float(np.mean(list(snaive_mase.values())))
    note = (
        f"MSTL timed on {len(SUBSET)} series x {ORIGINS} origins on 2 cores in this run, "
        f"per-series time x{N_SERIES} extrapolated"
    )
    n_fallback = sum(1 for m in result.metadata.values() if m["fallback"])
    return [
        {
            "name": "forecast_refresh_200x4w_h24_wall",
            "value": round(refresh_s, 3),
            "unit": "s",
            "baseline": round(mstl_200_s, 1),
            "ratio": round(refresh_s / mstl_200_s, 5),
            "note": note + "; target <= 10 s",
        },
        {
            "name": "forecast_select_200x4w_backtest_wall",
            "value": round(select_s, 3),
            "unit": "s",
            "baseline": round(mstl_200_s, 1),
            "ratio": round(select_s / mstl_200_s, 5),
            "note": "scheduled model selection (rolling-origin backtest), includes input checks",
        },
        {
            "name": "forecast_mase_vs_mstl_held_out",
            "value": round(e_sub, 4),
            "unit": "MASE",
            "baseline": round(m_sub, 4),
            "ratio": round(e_sub / m_sub, 4),
            "note": (
                f"{len(SUBSET)} held-out series (seed {HELD_OUT_SEED}) x {ORIGINS} next-day "
                "origins; target ratio <= 1.02"
            ),
        },
        {
            "name": "forecast_interval_coverage_80",
            "value": round(_coverage(result.frame, actual, 80), 4),
            "unit": "share",
            "baseline": 0.8,
            "ratio": round(_coverage(result.frame, actual, 80) / 0.8, 4),
            "note": f"all {N_SERIES} series, next day; 95 %: "
            f"{_coverage(result.frame, actual, 95):.3f}",
        },
        {
            "name": "forecast_mase_all_vs_seasonal_naive",
            "value": round(eng_all, 4),
            "unit": "MASE",
            "baseline": round(snaive_all, 4),
            "ratio": round(eng_all / snaive_all, 4),
            "note": f"all {N_SERIES} series, next day",
        },
        {
            "name": "forecast_fallback_series",
            "value": n_fallback,
            "unit": "series",
            "baseline": N_SERIES,
            "ratio": round(n_fallback / N_SERIES, 4),
            "note": "series on the seasonal-naive fallback",
        },
        *simbench_rows(),
    ]


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))

"""Rolling-origin backtest of every candidate model over a whole frame.

The result is what ``gridaios forecast backtest --json`` prints: per model the
mean MASE (scaled by each series' in-sample daily seasonal-naive MAE), sMAPE,
80 % interval coverage (each window covered by intervals calibrated on the other
windows, as the engine calibrates them: :mod:`forecasting.intervals`; with a single
window, the model's own intervals) and the wall
seconds it took; the baseline is seasonal
naive; the best is the lowest MASE.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from statsforecast import StatsForecast

from forecasting.candidates import CANDIDATES, FALLBACK, MSTL_CANDIDATE, add_blend, models_for
from forecasting.engine import _naive_ds
from forecasting.frames import CleanFrame, ForecastError, season_lengths
from forecasting.intervals import held_out_coverage
from forecasting.metrics import coverage, mase, naive_scale, smape

BASELINE = FALLBACK


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelScore:
    name: str
    mase: float
    smape: float
    coverage_80: float
    seconds: float
    n_series: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mase": round(self.mase, 4),
            "smape": round(self.smape, 3),
            "coverage_80": round(self.coverage_80, 4),
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestResult:
    models: list[ModelScore]
    baseline: str
    best: str
    horizon: int
    windows: int
    skipped: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "models": [m.as_dict() for m in self.models],
            "baseline": self.baseline,
            "best": self.best,
        }


def backtest(
    clean: CleanFrame,
    h: int,
    windows: int,
    *,
    n_jobs: int = 1,
    include_mstl: bool = False,
) -> BacktestResult:
    if h < 1 or windows < 1:
        raise ForecastError(f"horizon {h} and windows {windows} must both be >= 1")
    daily, weekly = season_lengths(clean.freq)
    df = _naive_ds(clean.frame.select("unique_id", "ds", "y"))
    shortest = int(df.group_by("unique_id").len()["len"].to_numpy().min())
    builds = [c for c in CANDIDATES if not c.uses_exog]
    if include_mstl:
        builds.append(MSTL_CANDIDATE)
    scores: list[ModelScore] = []
    skipped: dict[str, str] = {}
    for cand in builds:
        name = cand.name
        need = cand.min_steps(daily, h, windows)
        if shortest < need:
            skipped[name] = f"needs {need} steps of history per series, shortest has {shortest}"
            continue
        started = time.perf_counter()
        sf = StatsForecast(
            models=models_for(cand, daily, weekly, h), freq=clean.freq, n_jobs=n_jobs
        )
        cv = sf.cross_validation(h=h, df=df, n_windows=windows, step_size=h, level=[80])
        seconds = time.perf_counter() - started
        cv = add_blend(pl.from_pandas(cv) if not isinstance(cv, pl.DataFrame) else cv, cand)
        scores.append(_score(name, cv, df, daily, seconds))
    if not scores:
        raise ForecastError(
            f"history too short for any model: shortest series has {shortest} steps, "
            f"seasonal naive needs {daily + windows * h} (one day + windows x horizon)"
        )
    best = min(scores, key=lambda s: s.mase).name
    return BacktestResult(
        models=scores,
        baseline=BASELINE if any(s.name == BASELINE for s in scores) else scores[0].name,
        best=best,
        horizon=h,
        windows=windows,
        skipped=skipped,
    )


def _coverage_80(cv: pl.DataFrame, name: str) -> float:
    """Calibrated intervals held out per window; with one window, the model's own."""
    held_out = held_out_coverage(cv, name, 80)
    lo, hi = f"{name}-lo-80", f"{name}-hi-80"
    if np.isfinite(held_out) or lo not in cv.columns:
        return held_out
    return coverage(cv["y"].to_numpy(), cv[lo].to_numpy(), cv[hi].to_numpy())


def _score(name: str, cv: pl.DataFrame, df: pl.DataFrame, daily: int, seconds: float) -> ModelScore:
    first_cutoff = cv.group_by("unique_id").agg(pl.col("cutoff").min())
    train = df.join(first_cutoff, on="unique_id").filter(pl.col("ds") <= pl.col("cutoff"))
    history = {str(uid): part["y"].to_numpy() for (uid,), part in train.group_by("unique_id")}
    m_list, s_list = [], []
    for (uid,), part in cv.group_by("unique_id"):
        actual = part["y"].to_numpy()
        pred = part[name].to_numpy()
        scale = naive_scale(history[str(uid)], daily)
        if np.isfinite(scale):
            m_list.append(mase(actual, pred, scale))
        s_list.append(smape(actual, pred))
    return ModelScore(
        name=name,
        mase=float(np.mean(m_list)) if m_list else float("nan"),
        smape=float(np.mean(s_list)),
        coverage_80=_coverage_80(cv, name),
        seconds=seconds,
        n_series=len(s_list),
    )

"""Per-series model choice by rolling-origin backtest, then cheap scheduled refreshes.

``select`` (expensive, on a schedule) backtests every eligible candidate per
series and keeps the one with the lowest MASE. ``forecast`` (cheap, every
cycle) runs only the chosen model per series, in one statsforecast call per
model, on ``n_jobs`` processes. Any series whose history is short, or whose
model fails or returns non-finite values, gets seasonal naive and its metadata
says so and why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from statsforecast import StatsForecast

from forecasting import daytype, intervals
from forecasting.calendar import SiteCalendar
from forecasting.candidates import (
    CANDIDATES,
    FALLBACK,
    Candidate,
    add_blend,
    candidate,
    models_for,
    naive,
)
from forecasting.frames import FREQS, CleanFrame, ForecastError, season_lengths
from forecasting.metrics import naive_scale

log = logging.getLogger(__name__)

LEVELS = (80, 95)
#: A few backtest windows are noisy: another model must beat the robust blend by this
#: margin to replace it (measured: per-series argmin alone scored worse than the blend).
PREFERRED = "Blend"
SWITCH_MARGIN = 0.10
MAX_HORIZON = timedelta(hours=48)
_FOURIER_K = (4, 2)  # harmonics for the daily and weekly seasons


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    freq: str = "15m"
    horizon: timedelta = timedelta(hours=24)
    backtest_windows: int = 3
    n_jobs: int = 2
    refit_every: timedelta = timedelta(hours=6)
    #: the site's holiday calendar and local zone: enables the DayType model (15m only)
    calendar: SiteCalendar | None = None
    #: nameplate ratings (kW) by series: PV intervals are clipped to [0, rating]
    ratings_kw: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not timedelta(0) < self.horizon <= MAX_HORIZON:
            raise ForecastError(f"horizon {self.horizon} must be in (0, 48 h]")
        if self.backtest_windows < 1:
            raise ForecastError(f"backtest_windows {self.backtest_windows} must be >= 1")

    @property
    def h(self) -> int:
        return int(self.horizon / FREQS[self.freq])


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesChoice:
    unique_id: str
    model: str
    fallback: bool
    reason: str
    backtest_mase: dict[str, float] = field(default_factory=dict)
    #: level ("80", "95") -> 24 interval half-widths by UTC hour, from the backtest errors
    interval_halfwidths: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    choices: dict[str, SeriesChoice]
    fitted_at: datetime
    freq: str

    def due(self, now: datetime, every: timedelta) -> bool:
        return now - self.fitted_at >= every

    def to_json(self) -> dict[str, Any]:
        return {
            "fitted_at": self.fitted_at.isoformat(),
            "freq": self.freq,
            "choices": {
                uid: {
                    "model": c.model,
                    "fallback": c.fallback,
                    "reason": c.reason,
                    "backtest_mase": c.backtest_mase,
                    "interval_halfwidths": c.interval_halfwidths,
                }
                for uid, c in self.choices.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Selection:
        try:
            return cls(
                fitted_at=datetime.fromisoformat(data["fitted_at"]),
                freq=str(data["freq"]),
                choices={
                    uid: SeriesChoice(
                        unique_id=uid,
                        model=str(c["model"]),
                        fallback=bool(c["fallback"]),
                        reason=str(c["reason"]),
                        backtest_mase={k: float(v) for k, v in c["backtest_mase"].items()},
                        interval_halfwidths={
                            lv: [float(x) for x in hw]
                            for lv, hw in c.get("interval_halfwidths", {}).items()
                        },
                    )
                    for uid, c in data["choices"].items()
                },
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ForecastError(f"stored model selection is unreadable: {err!r}") from err


@dataclass(frozen=True, slots=True, kw_only=True)
class Forecast:
    """Columns: unique_id, ds, model, yhat, lo_80, hi_80, lo_95, hi_95 (ds UTC)."""

    frame: pl.DataFrame
    metadata: dict[str, dict[str, Any]]


def _naive_ds(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("ds").dt.replace_time_zone(None))


def _utc_ds(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("ds").dt.replace_time_zone("UTC"))


def _with_fourier(df: pl.DataFrame, freq: str, h: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    from utilsforecast.feature_engineering import fourier

    daily, weekly = season_lengths(freq)
    train, future = df, None
    for season, k in zip((daily, weekly), _FOURIER_K, strict=True):
        train, fut = fourier(train, freq=freq, season_length=season, k=k, h=h)
        future = fut if future is None else future.join(fut, on=["unique_id", "ds"])
    assert future is not None
    return train, future


class ForecastEngine:
    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.daily, self.weekly = season_lengths(config.freq)

    # ---- selection (scheduled) -------------------------------------------------------------

    def select(self, clean: CleanFrame, now: datetime) -> Selection:
        cfg = self.config
        h = cfg.h
        lengths = dict(clean.frame.group_by("unique_id").len().iter_rows())
        exog = [c for c in clean.frame.columns if c not in ("unique_id", "ds", "y")]
        scores: dict[str, dict[str, float]] = {uid: {} for uid in lengths}
        widths: dict[str, dict[str, dict[str, list[float]]]] = {uid: {} for uid in lengths}
        for cand in CANDIDATES:
            if (cand.uses_exog and not exog) or not cand.selectable:
                continue
            need = cand.min_steps(self.daily, h, cfg.backtest_windows)
            ids = [uid for uid, n in lengths.items() if n >= need]
            if not ids:
                continue
            try:
                mase, cand_widths = self._backtest(clean, cand, ids, exog)
            except Exception as err:  # a candidate failing never stops the others
                log.warning("backtest of %s failed: %s", cand.name, err)
                continue
            for uid, value in mase.items():
                scores[uid][cand.name] = value
            for uid, hw in cand_widths.items():
                widths[uid][cand.name] = hw
        if cfg.calendar is not None and cfg.freq == "15m":
            # the calendar model: its MASE over the same last days the others were scored
            # on, its intervals from >= 14 days of rolling out-of-sample errors
            try:
                fit = daytype.fit(
                    clean, cfg.calendar, windows=max(1, cfg.backtest_windows * h // self.daily)
                )
            except Exception as err:  # never stops the statistical candidates
                log.warning("backtest of %s failed: %s", daytype.NAME, err)
            else:
                for uid, value in fit.mase.items():
                    if uid in fit.halfwidths:  # no calibrated intervals: not selectable
                        scores[uid][daytype.NAME] = value
                        widths[uid][daytype.NAME] = fit.halfwidths[uid]
        choices: dict[str, SeriesChoice] = {}
        for uid, n in lengths.items():
            finite = {k: v for k, v in scores[uid].items() if np.isfinite(v)}
            if finite:
                best = min(finite, key=finite.__getitem__)
                reason = f"lowest backtest MASE over {cfg.backtest_windows} window(s)"
                # with a calendar, the day-type model is the robust default (holidays)
                pref = daytype.NAME if daytype.NAME in finite else PREFERRED
                preferred = finite.get(pref)
                if preferred is not None and finite[best] > (1 - SWITCH_MARGIN) * preferred:
                    if best != pref:
                        reason = (
                            f"{pref} kept: {best} was not {SWITCH_MARGIN:.0%} better "
                            f"over {cfg.backtest_windows} window(s)"
                        )
                    best = pref
                choices[uid] = SeriesChoice(
                    unique_id=uid,
                    model=best,
                    fallback=False,
                    reason=reason,
                    backtest_mase=finite,
                    interval_halfwidths=widths[uid].get(best, {}),
                )
            else:
                days = n / self.daily
                need = min(
                    c.min_steps(self.daily, h, cfg.backtest_windows)
                    for c in CANDIDATES
                    if (exog or not c.uses_exog) and c.selectable
                )
                reason = (
                    f"history {days:.1f} days is too short to backtest any model "
                    f"(needs {need / self.daily:.1f})"
                    if n < need
                    else "every candidate failed its backtest (see the log)"
                )
                choices[uid] = SeriesChoice(
                    unique_id=uid,
                    model=FALLBACK if n >= self.daily else "Naive",
                    fallback=True,
                    reason=reason,
                )
        return Selection(choices=choices, fitted_at=now, freq=cfg.freq)

    def _backtest(
        self, clean: CleanFrame, cand: Candidate, ids: list[str], exog: list[str]
    ) -> tuple[dict[str, float], dict[str, dict[str, list[float]]]]:
        """Per series: MASE, and interval half-widths from the same out-of-sample errors."""
        cfg = self.config
        h = cfg.h
        df = clean.frame.filter(pl.col("unique_id").is_in(ids))
        if cand.uses_exog:
            df, _ = _with_fourier(_naive_ds(df), cfg.freq, h)
        else:
            df = _naive_ds(df.select("unique_id", "ds", "y"))
        sf = StatsForecast(
            models=models_for(cand, self.daily, self.weekly, h), freq=cfg.freq, n_jobs=cfg.n_jobs
        )
        cv = sf.cross_validation(h=h, df=df, n_windows=cfg.backtest_windows, step_size=h)
        cv = add_blend(pl.from_pandas(cv) if not isinstance(cv, pl.DataFrame) else cv, cand)
        err = cv.group_by("unique_id").agg(
            (pl.col("y") - pl.col(cand.name)).abs().mean().alias("mae")
        )
        out: dict[str, float] = {}
        ys = {
            str(uid): part["y"].to_numpy()
            for (uid,), part in df.select("unique_id", "y").group_by("unique_id")
        }
        for uid, mae in err.iter_rows():
            scale = naive_scale(ys[str(uid)], self.daily)
            out[str(uid)] = float(mae) / scale if mae is not None else float("nan")
        return out, intervals.halfwidths(cv, cand.name, LEVELS)

    # ---- refresh (every cycle) --------------------------------------------------------------

    def forecast(
        self,
        clean: CleanFrame,
        selection: Selection,
        future_exog: pl.DataFrame | None = None,
    ) -> Forecast:
        exog = [c for c in clean.frame.columns if c not in ("unique_id", "ds", "y")]
        chosen: dict[str, SeriesChoice] = {}
        for uid in clean.frame["unique_id"].unique().to_list():
            choice = selection.choices.get(uid)
            if choice is None:
                choice = SeriesChoice(
                    unique_id=uid,
                    model=FALLBACK,
                    fallback=True,
                    reason="series is new since the last model selection",
                )
            elif candidate_uses_exog(choice.model) and (not exog or future_exog is None):
                choice = SeriesChoice(
                    unique_id=uid,
                    model=FALLBACK,
                    fallback=True,
                    reason=f"{choice.model} needs future exogenous values and none were given",
                )
            chosen[uid] = choice
        groups: dict[str, list[str]] = {}
        for uid, ch in chosen.items():
            groups.setdefault(ch.model, []).append(uid)
        parts: list[pl.DataFrame] = []
        for model, ids in groups.items():
            try:
                if model == daytype.NAME:
                    part = self._run_daytype(clean, ids, chosen)
                else:
                    part = self._run(clean, model, ids, exog, future_exog)
                bad = _non_finite_ids(part)
            except Exception as err:
                log.warning("%s failed for %d series, using %s: %s", model, len(ids), FALLBACK, err)
                part, bad = None, set(ids)
                reason = f"{model} failed: {type(err).__name__}: {err}"
            else:
                reason = f"{model} returned non-finite values"
            if bad:
                for uid in bad:
                    chosen[uid] = SeriesChoice(
                        unique_id=uid, model=FALLBACK, fallback=True, reason=reason
                    )
                if part is not None:
                    part = part.filter(~pl.col("unique_id").is_in(list(bad)))
                parts.append(self._run(clean, FALLBACK, sorted(bad), [], None))
            if part is not None:
                parts.append(part)
        frame = pl.concat(parts).sort("unique_id", "ds")
        calibrated = {
            uid: ch.interval_halfwidths
            for uid, ch in chosen.items()
            if ch.interval_halfwidths and not ch.fallback and ch.model != daytype.NAME
        }
        frame = intervals.apply(frame, calibrated, LEVELS)
        metadata = {
            uid: {
                "model": ch.model,
                "fallback": ch.fallback,
                "reason": ch.reason,
                "flags": clean.flags[uid].as_dict() if uid in clean.flags else {},
                "backtest_mase": ch.backtest_mase,
                "selected_at": selection.fitted_at.isoformat(),
                "intervals": (
                    "calibrated on backtest errors by hour of day"
                    if uid in calibrated
                    else "conformal on >= 14 days of rolling errors by local hour"
                    if ch.model == daytype.NAME
                    else f"{ch.model}'s own"
                ),
            }
            for uid, ch in chosen.items()
        }
        return Forecast(frame=frame, metadata=metadata)

    def _run_daytype(
        self, clean: CleanFrame, ids: list[str], chosen: dict[str, SeriesChoice]
    ) -> pl.DataFrame:
        cal = self.config.calendar
        if cal is None:
            raise ForecastError("the DayType model needs the site calendar (EngineConfig.calendar)")
        fitted = daytype.DayTypeFit(
            mase={},
            halfwidths={u: chosen[u].interval_halfwidths for u in ids},
            calib_days={},
        )
        return daytype.forecast(
            clean, cal, ids, self.config.h, fitted, ratings_kw=self.config.ratings_kw
        )

    def _run(
        self,
        clean: CleanFrame,
        model: str,
        ids: list[str],
        exog: list[str],
        future_exog: pl.DataFrame | None,
    ) -> pl.DataFrame:
        cfg = self.config
        h = cfg.h
        df = clean.frame.filter(pl.col("unique_id").is_in(ids))
        cand = None if model == "Naive" else candidate(model)
        models = (
            [naive(self.daily, self.weekly, h)]
            if cand is None
            else models_for(cand, self.daily, self.weekly, h)
        )
        sf = StatsForecast(models=models, freq=cfg.freq, n_jobs=1)
        if model == "HarmonicARIMA":
            assert future_exog is not None
            train, fourier_future = _with_fourier(_naive_ds(df), cfg.freq, h)
            x_df = fourier_future.join(
                _naive_ds(future_exog.select("unique_id", "ds", *exog)),
                on=["unique_id", "ds"],
                how="left",
            )
            if x_df.null_count().sum_horizontal().item() > 0:
                raise ForecastError("future exogenous values do not cover the horizon")
            out = sf.forecast(h=h, df=train, X_df=x_df, level=list(LEVELS))
        else:
            jobs = cfg.n_jobs if len(ids) >= 50 else 1
            sf.n_jobs = jobs
            out = sf.forecast(
                h=h, df=_naive_ds(df.select("unique_id", "ds", "y")), level=list(LEVELS)
            )
        out = pl.from_pandas(out) if not isinstance(out, pl.DataFrame) else out
        if cand is not None:
            out = add_blend(out, cand)
        return _utc_ds(
            out.select(
                pl.col("unique_id").cast(pl.String),
                "ds",
                pl.lit(model).alias("model"),
                pl.col(model).alias("yhat"),
                *[
                    pl.col(f"{model}-{side}-{lv}").alias(f"{side}_{lv}")
                    for lv in LEVELS
                    for side in ("lo", "hi")
                ],
            )
        )


def candidate_uses_exog(name: str) -> bool:
    try:
        return candidate(name).uses_exog
    except KeyError:
        return False


def _non_finite_ids(part: pl.DataFrame) -> set[str]:
    cols = ["yhat", "lo_80", "hi_80", "lo_95", "hi_95"]
    bad = part.filter(pl.any_horizontal(~pl.col(c).is_finite().fill_null(False) for c in cols))
    return set(bad["unique_id"].unique().to_list())

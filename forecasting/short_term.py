"""The 1-4 h forecast task through the router: ONNX global model, then statsforecast, then a
deterministic seasonal-naive fallback computed in numpy (cannot fail on a clean frame)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from forecasting.frames import CleanFrame, ForecastError
from forecasting.onnx_models import ShortTermForecaster
from forecasting.router import Router, RouteResult, TierAnswer, TierCall

STEPS = 16  # 4 h of 15-min steps
DAY = 96


def _matrix(clean: CleanFrame, width: int) -> tuple[list[str], np.ndarray, list[datetime]]:
    if clean.freq != "15m":
        raise ForecastError(f"the short-term task needs 15m data, got {clean.freq}")
    ids: list[str] = []
    rows: list[np.ndarray] = []
    lasts: list[datetime] = []
    for (uid,), part in clean.frame.sort("ds").group_by("unique_id", maintain_order=True):
        y = part["y"].to_numpy()
        if len(y) < width:
            raise ForecastError(f"series {uid!r} has {len(y)} steps, needs {width}")
        ids.append(str(uid))
        rows.append(y[-width:])
        last = part["ds"][-1]
        assert isinstance(last, datetime)
        lasts.append(last)
    return ids, np.asarray(rows), lasts


def _frame(ids: list[str], lasts: list[datetime], values: np.ndarray) -> pl.DataFrame:
    step = timedelta(minutes=15)
    return pl.DataFrame(
        {
            "unique_id": [u for u in ids for _ in range(STEPS)],
            "ds": [last + step * (k + 1) for last in lasts for k in range(STEPS)],
            "yhat": values[:, :STEPS].reshape(-1).astype(float),
        }
    )


def seasonal_naive(clean: CleanFrame) -> pl.DataFrame:
    ids, mat, lasts = _matrix(clean, DAY)
    return _frame(ids, lasts, mat[:, :STEPS])


def short_term_forecast(
    router: Router,
    clean: CleanFrame,
    onnx: Callable[[], ShortTermForecaster] = ShortTermForecaster,
) -> RouteResult[pl.DataFrame]:
    def onnx_tier(call: TierCall) -> TierAnswer[pl.DataFrame]:
        model = onnx()
        ids, mat, lasts = _matrix(clean, model.lookback)
        origins = [last + timedelta(minutes=15) for last in lasts]
        pred = model.predict(mat, origins)
        return TierAnswer(value=_frame(ids, lasts, pred))

    def stats_tier(call: TierCall) -> TierAnswer[pl.DataFrame]:
        from statsforecast import StatsForecast
        from statsforecast.models import SeasonalNaive

        sf = StatsForecast(models=[SeasonalNaive(season_length=DAY)], freq="15m", n_jobs=1)
        df = clean.frame.select("unique_id", "ds", "y").with_columns(
            pl.col("ds").dt.replace_time_zone(None)
        )
        out = sf.forecast(h=STEPS, df=df)
        out = out if isinstance(out, pl.DataFrame) else pl.from_pandas(out)
        return TierAnswer(
            value=out.select(
                pl.col("unique_id").cast(pl.String),
                pl.col("ds").dt.replace_time_zone("UTC"),
                pl.col("SeasonalNaive").alias("yhat"),
            )
        )

    return router.call(
        "forecast_short",
        {"onnx": onnx_tier, "stats": stats_tier},
        fallback=lambda: seasonal_naive(clean),
    )

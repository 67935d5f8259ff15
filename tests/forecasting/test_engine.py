from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from forecasting import EngineConfig, ForecastEngine, ForecastError, Selection, backtest, clean
from forecasting.synth import make_frame

NOW = datetime(2026, 7, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return make_frame(4, 24, seed=3)


def test_select_then_forecast_has_intervals_and_metadata(frame: pl.DataFrame) -> None:
    data = clean(frame)
    engine = ForecastEngine(EngineConfig(horizon=timedelta(hours=24), n_jobs=1))
    selection = engine.select(data, NOW)
    assert set(selection.choices) == set(frame["unique_id"].unique())
    for choice in selection.choices.values():
        assert not choice.fallback
        assert choice.model in choice.backtest_mase
        assert choice.backtest_mase[choice.model] == min(choice.backtest_mase.values())
    result = engine.forecast(data, selection)
    assert result.frame.height == 4 * 96
    f = result.frame
    assert (f["lo_95"] <= f["lo_80"]).all() and (f["lo_80"] <= f["yhat"]).all()
    assert (f["yhat"] <= f["hi_80"]).all() and (f["hi_80"] <= f["hi_95"]).all()
    assert f["ds"].min() == data.frame["ds"].max() + timedelta(minutes=15)
    assert all(m["fallback"] is False for m in result.metadata.values())


def test_short_history_falls_back_to_seasonal_naive_and_says_why(frame: pl.DataFrame) -> None:
    short = frame.filter(pl.col("unique_id") == "pv_000").tail(96 * 2)
    long = frame.filter(pl.col("unique_id") != "pv_000")
    data = clean(pl.concat([short, long]))
    engine = ForecastEngine(EngineConfig(horizon=timedelta(hours=24), n_jobs=1))
    result = engine.forecast(data, engine.select(data, NOW))
    meta = result.metadata["pv_000"]
    assert meta["fallback"] is True and meta["model"] == "SeasonalNaive"
    assert "too short" in meta["reason"]
    pv = result.frame.filter(pl.col("unique_id") == "pv_000")
    # seasonal naive repeats the last day
    assert np.allclose(pv["yhat"].to_numpy(), short["y"].tail(96).to_numpy())


def test_series_new_since_selection_gets_fallback(frame: pl.DataFrame) -> None:
    data = clean(frame)
    engine = ForecastEngine(EngineConfig(n_jobs=1))
    selection = engine.select(clean(frame.filter(pl.col("unique_id") != "load_002")), NOW)
    stored = Selection.from_json(selection.to_json())
    assert stored.choices == selection.choices
    result = engine.forecast(data, stored)
    assert result.metadata["load_002"]["fallback"] is True
    assert "new since" in result.metadata["load_002"]["reason"]
    assert stored.due(NOW + timedelta(hours=7), timedelta(hours=6))
    assert not stored.due(NOW + timedelta(hours=1), timedelta(hours=6))


def test_exogenous_temperature_model_is_backtested_and_used() -> None:
    frame = make_frame(2, 10, seed=5, pv_share=0.0, with_temperature=True)
    last = frame["ds"].max()
    assert isinstance(last, datetime)
    history = frame.filter(pl.col("ds") <= last - timedelta(hours=6))
    future = frame.filter(pl.col("ds") > last - timedelta(hours=6)).select(
        "unique_id", "ds", "temp_c"
    )
    engine = ForecastEngine(EngineConfig(horizon=timedelta(hours=6), n_jobs=1))
    data = clean(history)
    selection = engine.select(data, NOW)
    for choice in selection.choices.values():
        assert "HarmonicARIMA" in choice.backtest_mase
    forced = Selection(
        choices={
            uid: type(c)(unique_id=uid, model="HarmonicARIMA", fallback=False, reason="test")
            for uid, c in selection.choices.items()
        },
        fitted_at=NOW,
        freq="15m",
    )
    with_x = engine.forecast(data, forced, future_exog=future)
    assert set(with_x.frame["model"].unique()) == {"HarmonicARIMA"}
    assert with_x.frame.height == 2 * 24
    without_x = engine.forecast(data, forced)
    assert all(m["fallback"] for m in without_x.metadata.values())
    assert "exogenous" in next(iter(without_x.metadata.values()))["reason"]


def test_backtest_scores_every_model_and_names_best(frame: pl.DataFrame) -> None:
    result = backtest(clean(frame), 96, 1)
    names = [m.name for m in result.models]
    assert "SeasonalNaive" in names and result.baseline == "SeasonalNaive"
    assert result.best == min(result.models, key=lambda m: m.mase).name
    for m in result.models:
        assert m.mase > 0 and 0 <= m.coverage_80 <= 1 and m.seconds >= 0


def test_horizon_beyond_48_hours_is_refused() -> None:
    with pytest.raises(ForecastError, match="48 h"):
        EngineConfig(horizon=timedelta(hours=49))


def test_hourly_data_and_the_48_hour_horizon() -> None:
    hourly = make_frame(2, 30, freq_min=60, seed=8)
    data = clean(hourly, "1h")
    engine = ForecastEngine(EngineConfig(freq="1h", horizon=timedelta(hours=48), n_jobs=1))
    selection = engine.select(data, NOW)
    result = engine.forecast(data, selection)
    assert result.frame.height == 2 * 48
    assert all(not m["fallback"] for m in result.metadata.values())
    steps = result.frame.filter(pl.col("unique_id") == "load_000")["ds"].diff().drop_nulls()
    assert steps.unique().to_list() == [timedelta(hours=1)]

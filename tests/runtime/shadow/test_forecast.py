"""The shadow sides' load forecasts: seasonal naive and the ONNX forecaster, with fallbacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from runtime.shadow.forecast import OnnxForecast, SeasonalNaive

START = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)


def test_seasonal_naive_reads_the_same_time_yesterday_then_its_own_observations() -> None:
    yesterday = np.arange(8640, dtype=float)  # 10 s steps: value = index
    f = SeasonalNaive(START, 10.0, yesterday)
    assert f.forecast(START + FIVE, -1.0, 3, FIVE) == [30.0, 60.0, 90.0]
    assert f.fallbacks == 0
    f.observe(START, 500.0)  # today 12:00, the forecast for tomorrow 12:00
    assert f.forecast(START + timedelta(days=1), -1.0, 1, FIVE) == [500.0]


def test_seasonal_naive_without_yesterday_is_persistence() -> None:
    f = SeasonalNaive(START, 10.0, None)
    assert f.forecast(START, 700.0, 3, FIVE) == [700.0, 700.0, 700.0]
    assert f.fallbacks == 3


def test_onnx_forecast_follows_the_daily_shape_and_falls_back_without_history() -> None:
    pytest.importorskip("onnxruntime")
    from forecasting.onnx_models import ShortTermForecaster

    model = ShortTermForecaster()
    t = np.arange(8640) * 10.0 / 3600.0  # hours since 12:00 yesterday
    yesterday = 800.0 + 300.0 * np.sin(2 * np.pi * (t + 12.0 - 6.0) / 24.0)  # peak at 12:00
    f = OnnxForecast(START, 10.0, yesterday, model)
    out = f.forecast(START, 1.0, 3, FIVE)
    assert f.fallbacks == 0 and f.version == "2.0.0"
    assert all(700.0 < v < 1300.0 for v in out)  # around the load, not the current 1 kW
    empty = OnnxForecast(START, 10.0, None, model)
    assert empty.forecast(START, 640.0, 3, FIVE) == [640.0, 640.0, 640.0]
    assert empty.fallbacks == 3

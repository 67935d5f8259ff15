"""Forecasts and local models: statsforecast on polars, ONNX, a local LLM, one router.

Imports nothing else of gridaios. Heavy optional pieces (onnxruntime, llama-cpp)
are imported only by the modules that need them.
"""

from forecasting.backtest import BacktestResult, ModelScore, backtest
from forecasting.engine import EngineConfig, Forecast, ForecastEngine, Selection, SeriesChoice
from forecasting.frames import FREQS, CleanFrame, ForecastError, FrameError, clean, parse_freq

__all__ = [
    "FREQS",
    "BacktestResult",
    "CleanFrame",
    "EngineConfig",
    "Forecast",
    "ForecastEngine",
    "ForecastError",
    "FrameError",
    "ModelScore",
    "Selection",
    "SeriesChoice",
    "backtest",
    "clean",
    "parse_freq",
]

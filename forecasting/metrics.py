"""Forecast accuracy: MASE (scaled by in-sample daily seasonal-naive MAE), sMAPE, coverage."""

from __future__ import annotations

import numpy as np


def naive_scale(history: np.ndarray, season: int) -> float:
    """In-sample MAE of the seasonal-naive forecast; the MASE denominator."""
    if len(history) <= season:
        return float("nan")
    scale = float(np.mean(np.abs(history[season:] - history[:-season])))
    return scale if scale > 1e-12 else float("nan")


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    return float(np.mean(np.abs(actual - forecast)) / scale)


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent, 0..200; points where both are zero count as exact."""
    denom = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(
        2.0 * np.abs(actual - forecast), denom, out=np.zeros_like(denom), where=denom > 1e-12
    )
    return float(100.0 * np.mean(ratio))


def coverage(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of actuals inside [lo, hi]."""
    return float(np.mean((actual >= lo) & (actual <= hi)))

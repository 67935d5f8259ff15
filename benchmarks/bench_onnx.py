"""fp32 vs int8 ONNX models: latency (single call and batched), file size, accuracy.

Baseline is the fp32 model in the same run; ratio = int8 / fp32. Latency is
the median of repeated calls on a small-footprint session (1 thread, no arena).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import numpy as np

from benchmarks.util import size
from forecasting.onnx_models import AnomalyDetector, ShortTermForecaster
from forecasting.train import evaluate_anomaly, evaluate_forecaster, forecast_samples, load_split
from forecasting.train import windows as make_windows

REPEAT = size(50, 3)
BATCH = 256


def _median_s(fn: object, repeat: int = REPEAT) -> float:
    assert callable(fn)
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _row(name: str, value: float, unit: str, baseline: float, note: str = "") -> dict[str, object]:
    return {
        "name": name,
        "value": round(value, 7),
        "unit": unit,
        "baseline": round(baseline, 7),
        "ratio": round(value / baseline, 4) if baseline else None,
        "note": note or "baseline: fp32 model, same run",
    }


def run() -> list[dict[str, object]]:
    test = load_split(200, 20, 14)
    rows: list[dict[str, object]] = []

    det = {q: AnomalyDetector(int8=q) for q in (False, True)}
    win = make_windows(test, 32, 16)[:BATCH].astype(np.float32)
    one = win[:1]
    lat1 = {q: _median_s(lambda d=d: d.score(one)) for q, d in det.items()}
    latb = {q: _median_s(lambda d=d: d.score(win)) for q, d in det.items()}
    acc = {q: evaluate_anomaly(d, test) for q, d in det.items()}
    rows += [
        _row("onnx_anomaly_int8_latency_1", lat1[True], "s/call", lat1[False]),
        _row(f"onnx_anomaly_int8_latency_batch{BATCH}", latb[True], "s/call", latb[False]),
        _row(
            "onnx_anomaly_batch_per_window",
            latb[True] / BATCH,
            "s/window",
            lat1[True],
            f"int8, batch of {BATCH} vs one window per call",
        ),
        _row(
            "onnx_anomaly_int8_size",
            det[True].model.size_bytes,
            "bytes",
            det[False].model.size_bytes,
        ),
        _row(
            "onnx_anomaly_int8_true_positive_rate",
            acc[True]["true_positive_rate"],
            "rate",
            acc[False]["true_positive_rate"],
        ),
    ]

    fc = {q: ShortTermForecaster(int8=q) for q in (False, True)}
    x, _, origins = forecast_samples(test, 8)
    xb, ob = x[:BATCH], origins[:BATCH]
    lat1 = {q: _median_s(lambda f=f: f.predict(xb[:1], ob[:1])) for q, f in fc.items()}
    latb = {q: _median_s(lambda f=f: f.predict(xb, ob)) for q, f in fc.items()}
    acc = {q: evaluate_forecaster(f, test) for q, f in fc.items()}
    rows += [
        _row("onnx_forecaster_int8_latency_1", lat1[True], "s/call", lat1[False]),
        _row(f"onnx_forecaster_int8_latency_batch{BATCH}", latb[True], "s/call", latb[False]),
        _row(
            "onnx_forecaster_batch_per_series",
            latb[True] / BATCH,
            "s/series",
            lat1[True],
            f"int8, batch of {BATCH} vs one series per call",
        ),
        _row(
            "onnx_forecaster_int8_size",
            fc[True].model.size_bytes,
            "bytes",
            fc[False].model.size_bytes,
        ),
        _row("onnx_forecaster_int8_mae", acc[True]["mae_kw"], "kW", acc[False]["mae_kw"]),
        _row(
            "onnx_forecaster_int8_mae_vs_seasonal_naive",
            acc[True]["mae_ratio_vs_seasonal_naive"],
            "ratio",
            1.0,
            f"4 h ahead ({timedelta(hours=4)}), 15-min steps; baseline: seasonal naive = 1",
        ),
    ]
    return rows


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))

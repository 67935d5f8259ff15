"""Run the shipped ONNX models with a small-footprint onnxruntime session.

Sessions use one intra-op and one inter-op thread, no memory arena and no
memory pattern (a 2-core box runs other work too), and full graph
optimisation. Calls take batches: on this CPU a tiny model is dominated by
per-call overhead, so score many windows in one call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from forecasting.frames import ForecastError

MODEL_DIR = Path(__file__).resolve().parent / "models"


class ModelUnavailable(ForecastError):
    """A model file is missing or unreadable: use the deterministic fallback."""


def session_options() -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.enable_cpu_mem_arena = False
    opts.enable_mem_pattern = False
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return opts


class OnnxModel:
    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        if not path.is_file():
            raise ModelUnavailable(
                f"model file {path} not found: run `python -m forecasting.train` to build it"
            )
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own untyped errors
            raise ModelUnavailable(f"model file {path} cannot be loaded: {err}") from err
        self.path = path
        raw = self.session.get_modelmeta().custom_metadata_map
        self.metadata: dict[str, Any] = {k: _parse(v) for k, v in raw.items()}

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size

    def run(self, **inputs: np.ndarray) -> np.ndarray:
        feeds = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in inputs.items()}
        out = self.session.run(None, feeds)[0]
        return np.asarray(out)


def _parse(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


@dataclass(frozen=True, slots=True, kw_only=True)
class AnomalyResult:
    scores: np.ndarray
    flagged: np.ndarray  # bool per window
    threshold: float


class AnomalyDetector:
    """Scores telemetry windows [N, W]; a score above the trained threshold is anomalous.

    fp32 by default: at 3.5 KB the int8 file is larger (quantize/dequantize nodes) and
    1.8x slower on a batch of 256 (measured, `python -m benchmarks --only onnx`).
    """

    def __init__(self, path: Path | None = None, *, int8: bool = False) -> None:
        self.model = OnnxModel(
            path or MODEL_DIR / ("anomaly.int8.onnx" if int8 else "anomaly.onnx")
        )
        self.width = int(self.model.metadata["window"])
        self.threshold = float(self.model.metadata["threshold"])

    def score(self, windows: np.ndarray) -> AnomalyResult:
        w = np.atleast_2d(np.asarray(windows, dtype=np.float32))
        if w.shape[1] != self.width:
            raise ForecastError(f"windows have {w.shape[1]} samples; the model needs {self.width}")
        if not np.isfinite(w).all():
            raise ForecastError("windows contain NaN or inf: clean the telemetry first")
        scores = self.model.run(window=w)[:, 0]
        return AnomalyResult(
            scores=scores, flagged=scores > self.threshold, threshold=self.threshold
        )


def calendar_features(ts: datetime, count: int) -> np.ndarray:
    """Time of day and day of week as sin/cos, for the forecast origin ``ts`` (UTC)."""
    hour = ts.hour + ts.minute / 60.0
    dow = ts.weekday() + hour / 24.0
    feats = [
        np.sin(2 * np.pi * hour / 24),
        np.cos(2 * np.pi * hour / 24),
        np.sin(2 * np.pi * dow / 7),
        np.cos(2 * np.pi * dow / 7),
    ]
    return np.asarray(feats[:count], dtype=np.float32)


class ShortTermForecaster:
    """Global 1-4 h forecaster: last day of 15-min history -> next ``horizon`` steps."""

    def __init__(self, path: Path | None = None, *, int8: bool = True) -> None:
        name = "forecaster.int8.onnx" if int8 else "forecaster.onnx"
        self.model = OnnxModel(path or MODEL_DIR / name)
        self.lookback = int(self.model.metadata["lookback"])
        self.horizon = int(self.model.metadata["horizon"])
        self.n_calendar = int(self.model.metadata["calendar_features"])

    def predict(self, history: np.ndarray, origins: list[datetime]) -> np.ndarray:
        """``history`` [N, lookback] in kW (oldest first), ``origins`` the next step's time."""
        h = np.atleast_2d(np.asarray(history, dtype=np.float32))
        if h.shape[1] != self.lookback or len(origins) != h.shape[0]:
            raise ForecastError(
                f"history is {h.shape}, origins {len(origins)}: "
                f"need [N, {self.lookback}] and N origins"
            )
        if not np.isfinite(h).all():
            raise ForecastError("history contains NaN or inf: clean it first")
        cal = np.stack([calendar_features(t, self.n_calendar) for t in origins])
        return self.model.run(history=h, calendar=cal)

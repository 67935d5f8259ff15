"""The twin's load forecast on one side of a shadow run.

``persistence`` is production's (the validator holds the current uncontrolled load,
so no series is passed). ``seasonal_naive`` predicts the uncontrolled load at
t + k steps as what was observed at the same time one day earlier: the day
before the run (from the recording, or the scenario's noiseless profile) and
then the run's own observations; where no value a day old exists it falls back
to persistence, the mandatory fallback. ``onnx`` runs the int8 short-term
forecaster of ``forecasting/`` on the last day of 15-minute means.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # onnxruntime is the optional `ml` extra: imported only when used
    from forecasting.onnx_models import ShortTermForecaster

DAY = timedelta(days=1)


class SeasonalNaive:
    def __init__(self, start: datetime, step_s: float, yesterday_kw: np.ndarray | None) -> None:
        self.start = start
        self.step_s = step_s
        self._seen: dict[int, float] = {}  # step index (from start - 1 day) -> kW
        self.fallbacks = 0
        if yesterday_kw is not None:
            for i, kw in enumerate(yesterday_kw):
                self._seen[i] = float(kw)
        self._day_steps = int(DAY.total_seconds() // step_s)

    def observe(self, when: datetime, uncontrolled_kw: float) -> None:
        self._seen[self._index(when) + self._day_steps] = uncontrolled_kw

    def forecast(
        self, now: datetime, current_kw: float, steps: int, step: timedelta
    ) -> list[float]:
        out: list[float] = []
        for k in range(steps):
            value = self._seen.get(self._index(now + k * step))
            if value is None:
                self.fallbacks += 1
                value = current_kw
            out.append(value)
        return out

    def _index(self, when: datetime) -> int:
        """Index of ``when - 1 day`` on the recorded grid."""
        return round((when - DAY - (self.start - DAY)).total_seconds() / self.step_s)


class OnnxForecast:
    """The int8 ONNX short-term forecaster of ``forecasting/`` on one side of a run.

    It takes the last day of 15-minute means of the uncontrolled load (the day
    before the run, then the run's own observations) and predicts the next
    15-minute steps; each of the twin's 5-minute steps takes the prediction of
    its 15-minute bucket. A missing hour of history or a model outage falls back
    to persistence (counted), never to no forecast at all.
    """

    BUCKET_S = 900.0

    def __init__(
        self,
        start: datetime,
        step_s: float,
        yesterday_kw: np.ndarray | None,
        model: ShortTermForecaster,
    ) -> None:
        self.origin = start - DAY  # bucket 0 starts here
        self.model = model
        self.version = str(model.model.metadata.get("version", "unknown"))
        self.fallbacks = 0
        self._sums: dict[int, float] = {}
        self._counts: dict[int, int] = {}
        if yesterday_kw is not None:
            per_bucket = max(1, int(self.BUCKET_S // step_s))
            for b in range(len(yesterday_kw) // per_bucket):
                chunk = yesterday_kw[b * per_bucket : (b + 1) * per_bucket]
                self._sums[b] = float(chunk.sum())
                self._counts[b] = len(chunk)

    def observe(self, when: datetime, uncontrolled_kw: float) -> None:
        b = self._bucket(when)
        self._sums[b] = self._sums.get(b, 0.0) + uncontrolled_kw
        self._counts[b] = self._counts.get(b, 0) + 1

    def forecast(
        self, now: datetime, current_kw: float, steps: int, step: timedelta
    ) -> list[float]:
        first = self._bucket(now)
        lookback = self.model.lookback
        history = [
            self._sums[b] / self._counts[b] if self._counts.get(b) else None
            for b in range(first - lookback, first)
        ]
        if any(v is None for v in history):
            self.fallbacks += steps
            return [current_kw] * steps
        start = self.origin + timedelta(seconds=first * self.BUCKET_S)
        from forecasting import ForecastError  # loaded already: the model is from there

        try:
            predicted = self.model.predict(np.asarray([history], dtype=float), [start])[0]
        except ForecastError:
            self.fallbacks += steps
            return [current_kw] * steps
        out: list[float] = []
        for k in range(steps):
            offset = self._bucket(now + k * step) - first
            out.append(float(predicted[offset]) if offset < len(predicted) else current_kw)
        return out

    def _bucket(self, when: datetime) -> int:
        return int((when - self.origin).total_seconds() // self.BUCKET_S)

"""The twin's load forecast on one side of a shadow run.

``persistence`` is production's (the validator holds the current uncontrolled load,
so no series is passed). ``seasonal_naive`` predicts the uncontrolled load at
t + k steps as what was observed at the same time one day earlier: the day
before the run (from the recording, or the scenario's noiseless profile) and
then the run's own observations; where no value a day old exists it falls back
to persistence, the mandatory fallback.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

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

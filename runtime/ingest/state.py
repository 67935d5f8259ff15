"""Latest-value state: the newest good sample per point, as the gate and the policy see it."""

from __future__ import annotations

from connectors import Sample
from safety import Quality, Reading, StateSnapshot


class LatestState:
    def __init__(self) -> None:
        self._readings: dict[str, Reading] = {}
        self.samples_seen = 0

    def apply(self, sample: Sample) -> None:
        self.samples_seen += 1
        current = self._readings.get(sample.point)
        if current is not None and sample.source_ts < current.ts:
            return  # out of order: keep the newer value
        self._readings[sample.point] = Reading(
            point=sample.point,
            value=sample.value,
            ts=sample.source_ts,
            quality=Quality(sample.quality.value),
        )

    def snapshot(self) -> StateSnapshot:
        return StateSnapshot(readings=dict(self._readings))

    def get(self, point: str) -> Reading | None:
        """The latest reading of one point, without copying the whole state."""
        return self._readings.get(point)

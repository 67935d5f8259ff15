"""Clocks. Decision code takes ``now`` as an argument; the shell gets it from one of these."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def __call__(self) -> datetime: ...


class WallClock:
    """Production time: UTC wall clock."""

    def __call__(self) -> datetime:
        return datetime.now(UTC)


class ScaledClock:
    """Simulated time that runs ``speed`` times faster than the wall, from ``start``."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        if start.tzinfo is None:
            raise ValueError("ScaledClock start must be timezone-aware (UTC)")
        if speed <= 0:
            raise ValueError(f"speed = {speed}: must be > 0")
        self.start = start
        self.speed = speed
        self._t0 = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    def wall_seconds(self, sim: timedelta) -> float:
        """How long ``sim`` of simulated time takes on the wall."""
        return sim.total_seconds() / self.speed


class FixedClock:
    """A clock that moves only when told to: for tests."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta

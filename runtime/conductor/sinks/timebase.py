"""Runtime time vs device time.

In production both are the UTC wall clock. In the demo the runtime runs on a
simulated clock (``ScaledClock``: ``speed`` simulated seconds per wall second)
while a device-side bridge runs in real time: its telemetry is stamped, and the
``valid_until`` of a command is checked, on the wall clock. A ``TimeBase`` maps
instants between the two so that ages and deadlines keep their meaning on both
sides (a reading 0.1 wall-seconds old is ``0.1 x speed`` simulated seconds old).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class TimeBase(Protocol):
    def to_device(self, t: datetime) -> datetime: ...

    def to_runtime(self, t: datetime) -> datetime: ...

    def device_now(self) -> datetime: ...


def wall_now() -> datetime:
    return datetime.now(UTC)


class SameTime:
    """Runtime and device share the wall clock (production)."""

    def to_device(self, t: datetime) -> datetime:
        return t

    def to_runtime(self, t: datetime) -> datetime:
        return t

    def device_now(self) -> datetime:
        return wall_now()


class ScaledTimeBase:
    """The runtime's clock runs ``speed`` times faster than the device's wall clock."""

    def __init__(
        self,
        runtime_clock: Callable[[], datetime],
        speed: float,
        device_clock: Callable[[], datetime] = wall_now,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed = {speed}: must be > 0")
        self._runtime = runtime_clock
        self._device = device_clock
        self.speed = speed

    def to_device(self, t: datetime) -> datetime:
        return self._device() + (t - self._runtime()) / self.speed

    def to_runtime(self, t: datetime) -> datetime:
        return self._runtime() + (t - self._device()) * self.speed

    def device_now(self) -> datetime:
        return self._device()

    def device_seconds(self, runtime_span: timedelta) -> float:
        return runtime_span.total_seconds() / self.speed

"""The bridge's notion of now, injected so decision code never reads a clock itself."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (intervals, heartbeat age)."""
        ...

    def now_utc(self) -> datetime:
        """Timezone-aware UTC wall time (``valid_until``, timestamps)."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now_utc(self) -> datetime:
        return datetime.now(UTC)

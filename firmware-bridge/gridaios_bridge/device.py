"""The bridge's view of its device, whatever its register map (``devices``, ``sunspec``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Device", "Reading"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    setpoint_kw: float  # as read back from the device
    safe_mode: bool  # always False for a device without a safe-default mode
    measured_kw: float
    soc_pct: float | None = None
    extra: tuple[tuple[str, float, str], ...] = ()  # (point, value, unit) also published


class Device(Protocol):
    has_safe_mode: bool

    def read(self) -> Reading: ...

    def write(self, setpoint_kw: float, safe_mode: bool, safe_default_kw: float) -> None: ...

    def quantize(self, setpoint_kw: float) -> float:
        """The setpoint as the device's registers will hold it."""
        ...

    def close(self) -> None: ...

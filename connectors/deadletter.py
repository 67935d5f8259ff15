"""Where bad input goes: a sink that keeps the raw bytes, the reason and the source.

Connectors never import runtime; the runtime hands them something with this shape
(``runtime.log.deadletter.DeadLetterStore.put`` fits as it is).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class DeadLetterSink(Protocol):
    def __call__(
        self, kind: str, source: str, reason: str, payload: bytes, ts: datetime, /
    ) -> object: ...


class MemoryDeadLetters:
    """A sink that keeps dead letters in a list: for tools that have no store (and tests)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str, bytes, datetime]] = []

    def __call__(
        self, kind: str, source: str, reason: str, payload: bytes, ts: datetime, /
    ) -> None:
        self.items.append((kind, source, reason, payload, ts))

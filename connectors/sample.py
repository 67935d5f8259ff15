"""The one sample shape every connector emits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class SampleQuality(StrEnum):
    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    point: str
    value: float
    unit: str
    quality: SampleQuality
    source_ts: datetime
    received_ts: datetime
    sequence: int
    server_ts: datetime | None = None  # OPC UA: when the server saw it; None elsewhere
    flags: int = 0  # connectors.normalize.SampleFlag bits (out of order, future, frozen)

"""OPC UA values to gridaios samples: status codes to quality, timestamps kept."""

from __future__ import annotations

from datetime import UTC, datetime

from asyncua import ua

from connectors.sample import SampleQuality


def quality_of(status: ua.StatusCode | None) -> SampleQuality:
    if status is None:
        return SampleQuality.GOOD
    code = status.value
    severity = code >> 30  # 0 good, 1 uncertain, 2/3 bad
    if severity == 0:
        return SampleQuality.GOOD
    if severity == 1:
        return SampleQuality.UNCERTAIN
    return SampleQuality.BAD


def utc(ts: datetime | None, fallback: datetime) -> datetime:
    if ts is None:
        return fallback
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)

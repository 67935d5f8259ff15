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


def browse_path(path: str) -> list[str]:
    """``/Objects/2:Field/2:bat1`` -> ``["0:Objects", "2:Field", "2:bat1"]`` (from Root)."""
    parts = [p for p in path.strip("/").split("/") if p]
    return [p if ":" in p else f"0:{p}" for p in parts]


def is_browse_path(node: str) -> bool:
    return node.startswith("/")

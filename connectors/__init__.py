"""Field connectors: decode, validate and quality-tag telemetry; write approved commands."""

from connectors.errors import (
    ConnectorAuthFailed,
    ConnectorError,
    ConnectorNotReady,
    UnknownPoint,
    WriteFailed,
)
from connectors.sample import Sample, SampleQuality

__all__ = [
    "ConnectorAuthFailed",
    "ConnectorError",
    "ConnectorNotReady",
    "Sample",
    "SampleQuality",
    "UnknownPoint",
    "WriteFailed",
]

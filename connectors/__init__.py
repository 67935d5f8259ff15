"""Field connectors: decode, validate and quality-tag telemetry; write approved commands."""

from connectors.badinput import BadInput, BadInputReason
from connectors.deadletter import DeadLetterSink, MemoryDeadLetters
from connectors.errors import (
    ConnectorAuthFailed,
    ConnectorError,
    ConnectorNotReady,
    UnknownPoint,
    WriteExpired,
    WriteFailed,
    WriteRefused,
)
from connectors.normalize import Batch, NormalizeConfig, Normalizer, SampleFlag
from connectors.points import PointBinding, WriteResult, WriteTarget
from connectors.sample import Sample, SampleQuality
from connectors.state import ConnectionState

__all__ = [
    "BadInput",
    "BadInputReason",
    "Batch",
    "ConnectionState",
    "ConnectorAuthFailed",
    "ConnectorError",
    "ConnectorNotReady",
    "DeadLetterSink",
    "MemoryDeadLetters",
    "NormalizeConfig",
    "Normalizer",
    "PointBinding",
    "Sample",
    "SampleFlag",
    "SampleQuality",
    "UnknownPoint",
    "WriteExpired",
    "WriteFailed",
    "WriteRefused",
    "WriteResult",
    "WriteTarget",
]

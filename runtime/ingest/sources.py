"""One client per configured source, whatever its protocol."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from connectors import (
    ConnectionState,
    DeadLetterSink,
    PointBinding,
    Sample,
    WriteResult,
    WriteTarget,
)
from connectors.mqtt import MqttClient, MqttSourceConfig
from connectors.opcua import OpcUaClient, OpcUaSourceConfig
from safety import ApprovedCommand


class SourceClient(Protocol):
    state: ConnectionState

    async def connect(self) -> None: ...

    async def write(
        self, approved: ApprovedCommand, target: WriteTarget, *, readback_timeout_s: float = ...
    ) -> WriteResult: ...

    async def close(self) -> None: ...


def make_client(
    source: OpcUaSourceConfig | MqttSourceConfig,
    points: Sequence[PointBinding],
    on_sample: Callable[[Sample], None],
    clock: Callable[[], datetime],
    *,
    dead_letters: DeadLetterSink | None = None,
    observe_only: bool = False,
) -> SourceClient:
    """``observe_only``: a tool beside a live site (probe): never takes the site's MQTT
    session, never speaks for the runtime."""
    if isinstance(source, MqttSourceConfig):
        return MqttClient(
            source, points, on_sample, clock, dead_letters=dead_letters, observe_only=observe_only
        )
    return OpcUaClient(source, points, on_sample, clock, dead_letters=dead_letters)

"""What a wire format (JSON v1, Sparkplug B) tells the MQTT client about one message.

The client owns the transport (paho, queue, spool, state); a wire owns topics and
payloads. Decoding returns one of these values; the client acts on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from connectors.mqtt.codec import Problem
from connectors.normalize import Batch


@dataclass(frozen=True, slots=True)
class Telemetry:
    batch: Batch | None
    problems: list[Problem] = field(default_factory=list)
    new_session: bool = False  # a birth: the stream's sequence starts again


@dataclass(frozen=True, slots=True)
class Ack:
    key: str
    status: str
    value: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class DeviceState:
    device: str
    state: str


@dataclass(frozen=True, slots=True)
class Refused:
    problem: Problem


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one message produced: at most one event, acks, and messages to send back."""

    event: Telemetry | Ack | DeviceState | Refused | None
    replies: list[Publish] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    states: list[DeviceState] = field(default_factory=list)


class Wire(Protocol):
    kind: str  # dead-letter kind prefix, e.g. "mqtt-json"

    def subscriptions(self) -> list[str]: ...

    def decode(self, topic: str, payload: bytes, received: datetime) -> Outcome: ...

    def command(self, key: str, point: str, value: float, valid_until: datetime) -> Publish: ...

    def will(self, now: datetime) -> Publish: ...

    def online(self, now: datetime) -> list[Publish]: ...

    def heartbeat(self, seq: int, now: datetime) -> Publish | None: ...

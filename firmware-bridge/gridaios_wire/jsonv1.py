"""The gridaios JSON wire format v1 (docs/wire-format.md): topics, decoding, encoding. Pure.

The one definition of the format: the runtime's MQTT connector and command sink, the
virtual field's MQTT face and the firmware bridge all encode and decode with it, and
``firmware-bridge/test-vectors.json`` is run against each of them. Standard library only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "ACK_STATUSES",
    "DEVICE_KINDS",
    "DEVICE_STATES",
    "PREFIX",
    "QUALITIES",
    "VERSION",
    "Ack",
    "AckStatus",
    "Command",
    "DeviceState",
    "DeviceTopic",
    "Heartbeat",
    "ProtocolError",
    "ReceivedAck",
    "Sample",
    "Status",
    "Topics",
    "decode_ack",
    "decode_command",
    "decode_heartbeat",
    "decode_status",
    "encode_ack",
    "encode_command",
    "encode_heartbeat",
    "encode_status",
    "encode_telemetry",
    "format_ts",
    "parse_topic",
    "parse_ts",
    "subscriptions",
]

VERSION = 1
PREFIX = f"gridaios/v{VERSION}"
MAX_SAMPLES_PER_BATCH = 1000
MAX_KEY_CHARS = 200
AckStatus = Literal["applied", "duplicate", "rejected", "expired"]
DeviceState = Literal["online", "offline", "failsafe"]
Quality = Literal["good", "uncertain", "bad"]
ACK_STATUSES: tuple[AckStatus, ...] = ("applied", "duplicate", "rejected", "expired")
DEVICE_STATES: tuple[DeviceState, ...] = ("online", "offline", "failsafe")
QUALITIES: tuple[Quality, ...] = ("good", "uncertain", "bad")
# What a device publishes (the runtime subscribes to these under every device).
DEVICE_KINDS = ("telemetry", "ack", "status")
RUNTIME = "runtime"  # the runtime's own "device" name: its heartbeat and status


class ProtocolError(ValueError):
    """A payload does not follow the wire format; ``key`` is set when it could be read.

    ``malformed`` is true when the bytes are not a UTF-8 JSON object at all (as opposed to
    a JSON object with a missing, unknown or mistyped field)."""

    def __init__(self, message: str, key: str | None = None, *, malformed: bool = False) -> None:
        super().__init__(message)
        self.key = key
        self.malformed = malformed


@dataclass(frozen=True, slots=True, kw_only=True)
class Topics:
    site: str
    device: str

    @property
    def prefix(self) -> str:
        return f"{PREFIX}/{self.site}/{self.device}"

    @property
    def telemetry(self) -> str:
        return f"{self.prefix}/telemetry"

    @property
    def cmd(self) -> str:
        return f"{self.prefix}/cmd"

    @property
    def ack(self) -> str:
        return f"{self.prefix}/ack"

    @property
    def status(self) -> str:
        return f"{self.prefix}/status"

    @property
    def heartbeat(self) -> str:
        return f"{PREFIX}/{self.site}/{RUNTIME}/heartbeat"

    @property
    def runtime_status(self) -> str:
        return f"{PREFIX}/{self.site}/{RUNTIME}/status"


def subscriptions(site: str) -> list[str]:
    """What the runtime subscribes to: every device's telemetry, acks and status."""
    return [f"{PREFIX}/{site}/+/{kind}" for kind in DEVICE_KINDS]


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    device: str
    kind: str


def parse_topic(site: str, topic: str) -> DeviceTopic | None:
    """``gridaios/v1/<site>/<device>/<kind>`` (kind telemetry|ack|status) -> (device, kind);
    None for anything else, the runtime's own topics included."""
    parts = topic.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != PREFIX or parts[2] != site:
        return None
    if parts[4] not in DEVICE_KINDS or not parts[3] or parts[3] == RUNTIME:
        return None
    return DeviceTopic(parts[3], parts[4])


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    key: str
    point: str
    value: float
    valid_until: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat:
    seq: int
    ts: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack:
    key: str
    status: AckStatus
    value: float | None
    reason: str
    ts: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedAck:
    """An ack as a receiver reads it: ``value``, ``reason`` and ``ts`` may be absent."""

    key: str
    status: AckStatus
    value: float | None
    reason: str
    ts: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    state: DeviceState
    ts: datetime | None
    reason: str = ""
    heartbeat_age_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    point: str
    value: float
    unit: str
    ts: datetime
    quality: Quality = "good"


def parse_ts(raw: object, field: str) -> datetime:
    """ISO 8601 with an explicit UTC offset (``Z`` or ``+00:00``); naive times are refused."""
    if not isinstance(raw, str):
        raise ProtocolError(f"{field} = {raw!r}: must be an ISO 8601 string")
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError as err:
        raise ProtocolError(f"{field} = {raw!r}: not ISO 8601 ({err})") from err
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ProtocolError(f"{field} = {raw!r}: needs a UTC offset such as Z")
    return ts.astimezone(UTC)


def format_ts(ts: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _object(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ProtocolError(f"not UTF-8 JSON: {err}", malformed=True) from err
    if not isinstance(data, dict):
        raise ProtocolError("the payload must be a JSON object", malformed=True)
    if data.get("v") != VERSION:
        raise ProtocolError(f"v = {data.get('v')!r}: this receiver speaks v {VERSION}", None)
    return data


def _only(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise ProtocolError(f"unknown field {sorted(unknown)[0]!r}: not in wire format v1")


def _number(raw: object, field: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ProtocolError(f"{field} = {raw!r}: must be a number")
    if not math.isfinite(raw):
        raise ProtocolError(f"{field} = {raw!r}: must be finite")
    return float(raw)


def _text(raw: object, field: str) -> str:
    if not isinstance(raw, str):
        raise ProtocolError(f"{field} = {raw!r}: must be a string")
    return raw


def decode_command(payload: bytes) -> Command:
    data = _object(payload)
    key = _key(data)
    try:
        _only(data, {"v", "key", "point", "value", "valid_until"})
        point = data.get("point")
        if not isinstance(point, str) or not point:
            raise ProtocolError(f"point = {point!r}: must be a non-empty string")
        value = _number(data.get("value"), "value")
        valid_until = parse_ts(data.get("valid_until"), "valid_until")
    except ProtocolError as err:
        raise ProtocolError(str(err), key) from err
    return Command(key=key, point=point, value=value, valid_until=valid_until)


def _key(data: dict[str, Any]) -> str:
    key = data.get("key")
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
        raise ProtocolError(f"key = {key!r}: must be a non-empty string (<= 200 chars)")
    return key


def decode_ack(payload: bytes) -> ReceivedAck:
    """An ack as the runtime receives it; ``value``, ``reason`` and ``ts`` may be absent."""
    data = _object(payload)
    key = _key(data)
    try:
        _only(data, {"v", "key", "status", "value", "reason", "ts"})
        status = data.get("status")
        if status not in ACK_STATUSES:
            raise ProtocolError(f"status = {status!r}: must be one of {', '.join(ACK_STATUSES)}")
        raw_value = data.get("value")
        value = None if raw_value is None else _number(raw_value, "value")
        reason = _text(data.get("reason", ""), "reason")
        raw_ts = data.get("ts")
        ts = None if raw_ts is None else parse_ts(raw_ts, "ts")
    except ProtocolError as err:
        raise ProtocolError(str(err), key) from err
    return ReceivedAck(key=key, status=status, value=value, reason=reason, ts=ts)


def decode_status(payload: bytes) -> Status:
    data = _object(payload)
    _only(data, {"v", "state", "ts", "reason", "heartbeat_age_s"})
    state = data.get("state")
    if state not in DEVICE_STATES:
        raise ProtocolError(f"state = {state!r}: must be one of {', '.join(DEVICE_STATES)}")
    raw_ts = data.get("ts")
    raw_age = data.get("heartbeat_age_s")
    return Status(
        state=state,
        ts=None if raw_ts is None else parse_ts(raw_ts, "ts"),
        reason=_text(data.get("reason", ""), "reason"),
        heartbeat_age_s=None if raw_age is None else _number(raw_age, "heartbeat_age_s"),
    )


def decode_heartbeat(payload: bytes) -> Heartbeat:
    data = _object(payload)
    seq = data.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ProtocolError(f"seq = {seq!r}: must be a non-negative integer")
    return Heartbeat(seq=seq, ts=parse_ts(data.get("ts"), "ts"))


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


def encode_command(key: str, point: str, value: float, valid_until: datetime) -> bytes:
    return _dump(
        {
            "v": VERSION,
            "key": key,
            "point": point,
            "value": float(value),
            "valid_until": format_ts(valid_until),
        }
    )


def encode_heartbeat(seq: int, ts: datetime) -> bytes:
    return _dump({"v": VERSION, "seq": seq, "ts": format_ts(ts)})


def encode_ack(ack: Ack) -> bytes:
    return _dump(
        {
            "v": VERSION,
            "key": ack.key,
            "status": ack.status,
            "value": ack.value,
            "reason": ack.reason,
            "ts": format_ts(ack.ts),
        }
    )


def encode_status(
    state: DeviceState, ts: datetime, reason: str = "", heartbeat_age_s: float | None = None
) -> bytes:
    """``reason`` and ``heartbeat_age_s`` are optional (PROTOCOL.md, status)."""
    body: dict[str, Any] = {"v": VERSION, "state": state, "ts": format_ts(ts)}
    if reason:
        body["reason"] = reason
    if heartbeat_age_s is not None:
        body["heartbeat_age_s"] = round(heartbeat_age_s, 6)
    return _dump(body)


def encode_telemetry(device: str, seq: int, samples: list[Sample]) -> bytes:
    if len(samples) > MAX_SAMPLES_PER_BATCH:
        raise ProtocolError(f"{len(samples)} samples: a batch holds at most 1000")
    return _dump(
        {
            "v": VERSION,
            "device": device,
            "seq": seq,
            "samples": [
                {
                    "point": s.point,
                    "value": s.value,
                    "unit": s.unit,
                    "ts": format_ts(s.ts),
                    "quality": s.quality,
                }
                for s in samples
            ],
        }
    )

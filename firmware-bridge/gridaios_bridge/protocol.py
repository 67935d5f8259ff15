"""The gridaios JSON wire format v1 (see PROTOCOL.md): topics, decoding, encoding. Pure."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "Ack",
    "AckStatus",
    "Command",
    "DeviceState",
    "Heartbeat",
    "ProtocolError",
    "Sample",
    "Topics",
    "decode_command",
    "decode_heartbeat",
    "encode_ack",
    "encode_status",
    "encode_telemetry",
    "format_ts",
    "parse_ts",
]

VERSION = 1
MAX_SAMPLES_PER_BATCH = 1000
AckStatus = Literal["applied", "duplicate", "rejected", "expired"]
DeviceState = Literal["online", "offline", "failsafe"]
Quality = Literal["good", "uncertain", "bad"]


class ProtocolError(ValueError):
    """A payload does not follow the wire format; ``key`` is set when it could be read."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True, kw_only=True)
class Topics:
    site: str
    device: str

    @property
    def prefix(self) -> str:
        return f"gridaios/v1/{self.site}/{self.device}"

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
        return f"gridaios/v1/{self.site}/runtime/heartbeat"


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
        raise ProtocolError(f"not UTF-8 JSON: {err}") from err
    if not isinstance(data, dict):
        raise ProtocolError("the payload must be a JSON object")
    if data.get("v") != VERSION:
        raise ProtocolError(f"v = {data.get('v')!r}: this bridge speaks v {VERSION}", None)
    return data


def decode_command(payload: bytes) -> Command:
    data = _object(payload)
    key = data.get("key")
    if not isinstance(key, str) or not key or len(key) > 200:
        raise ProtocolError(f"key = {key!r}: must be a non-empty string (<= 200 chars)")
    try:
        unknown = set(data) - {"v", "key", "point", "value", "valid_until"}
        if unknown:
            raise ProtocolError(f"unknown field {sorted(unknown)[0]!r}: not in wire format v1")
        point = data.get("point")
        if not isinstance(point, str) or not point:
            raise ProtocolError(f"point = {point!r}: must be a non-empty string")
        value = data.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProtocolError(f"value = {value!r}: must be a number")
        if not math.isfinite(value):
            raise ProtocolError(f"value = {value!r}: must be finite")
        valid_until = parse_ts(data.get("valid_until"), "valid_until")
    except ProtocolError as err:
        raise ProtocolError(str(err), key) from err
    return Command(key=key, point=point, value=float(value), valid_until=valid_until)


def decode_heartbeat(payload: bytes) -> Heartbeat:
    data = _object(payload)
    seq = data.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ProtocolError(f"seq = {seq!r}: must be a non-negative integer")
    return Heartbeat(seq=seq, ts=parse_ts(data.get("ts"), "ts"))


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


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

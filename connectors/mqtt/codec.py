"""gridaios JSON wire format v1: the runtime's decoder of telemetry batches.

The format itself (topics, commands, acks, status, heartbeats) is defined once in
``gridaios_wire.jsonv1``; telemetry is decoded here because the runtime ingests it at
hundreds of thousands of samples a second, which the standard library's json cannot do.

Telemetry decodes on a fast path (msgspec: C-speed parsing and type checks straight into
structs) and falls back, only for a message that fails it, to a careful path that keeps
the good samples of a batch and names each bad one (wrong type, NaN, unknown point).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from connectors.badinput import BadInputReason
from connectors.normalize import Batch
from connectors.points import PointBinding
from connectors.sample import SampleQuality

UtcDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
_QUALITY = {q.value: q for q in SampleQuality}


class WireSample(msgspec.Struct, forbid_unknown_fields=True):
    point: str
    value: float
    ts: UtcDatetime
    unit: str = ""
    quality: Literal["good", "uncertain", "bad"] = "good"


class WireTelemetry(msgspec.Struct, forbid_unknown_fields=True):
    v: Literal[1]
    device: str
    seq: Annotated[int, msgspec.Meta(ge=0)]
    samples: list[WireSample]


class _Envelope(msgspec.Struct):
    v: Literal[1]
    device: str
    seq: Annotated[int, msgspec.Meta(ge=0)]
    samples: list[Any]


@dataclass(frozen=True, slots=True)
class Problem:
    reason: BadInputReason
    detail: str
    count: int = 1


@dataclass(slots=True)
class Decoded:
    batch: Batch | None
    problems: list[Problem] = field(default_factory=list)


class _Binding:
    __slots__ = ("point", "unit")

    def __init__(self, point: str, unit: str) -> None:
        self.point = point
        self.unit = unit


class _Layout:
    """The gridaios points and units of one device's point list, and unit lists seen OK."""

    __slots__ = ("points", "units", "units_ok")

    def __init__(self, points: list[str], units: list[str]) -> None:
        self.points = points
        self.units = units
        self.units_ok: set[tuple[str, ...]] = set()

    def check_units(self, sent: tuple[str, ...]) -> bool:
        ok = all(not s or not u or s == u for s, u in zip(sent, self.units, strict=True))
        if ok and len(self.units_ok) < 16:
            self.units_ok.add(sent)
        return ok


class TelemetryCodec:
    """Decodes telemetry of one source; wire point names map to gridaios points by binding."""

    def __init__(self, source: str, points: list[PointBinding], max_batch_samples: int) -> None:
        self.source = source
        self._by_wire: dict[str, _Binding] = {b.node_id: _Binding(b.point, b.unit) for b in points}
        self._max = max_batch_samples
        self._fast = msgspec.json.Decoder(WireTelemetry)
        self._envelope = msgspec.json.Decoder(_Envelope)
        self._layouts: dict[tuple[str, ...], _Layout | Literal[False]] = {}

    def decode(self, device: str, payload: bytes, received: datetime) -> Decoded:
        try:
            msg = self._fast.decode(payload)
        except msgspec.ValidationError:
            return self._careful(device, payload, received)
        except msgspec.DecodeError:
            return self._careful(device, payload, received)
        if msg.device != device:
            return _refuse(BadInputReason.WRONG_TYPE, _mismatch(device, msg.device))
        samples = msg.samples
        if len(samples) > self._max:
            return _refuse(
                BadInputReason.OVERSIZED,
                f"{len(samples)} samples in one batch; at most {self._max} are accepted",
            )
        batch = Batch(source=self.source, stream=device, sequence=msg.seq, received_ts=received)
        # Columns by comprehension; the point list of a device repeats from message to
        # message, so its mapping and unit check are cached per list.
        names = tuple([s.point for s in samples])
        values = [s.value for s in samples]
        layout = self._layouts.get(names)
        if layout is None:
            layout = self._layout(names)
        units = tuple([s.unit for s in samples])
        if (
            layout is False
            or (units not in layout.units_ok and not layout.check_units(units))
            or not all(map(math.isfinite, values))
        ):
            return self._one_by_one(batch, samples)
        quality = _QUALITY
        batch.points = list(layout.points)
        batch.values = values
        batch.units = list(layout.units)
        batch.qualities = [quality[s.quality] for s in samples]
        batch.source_ts = [s.ts for s in samples]
        batch.flags = [0] * len(values)
        return Decoded(batch, [])

    def _layout(self, names: tuple[str, ...]) -> _Layout | Literal[False]:
        bound = [self._by_wire.get(n) for n in names]
        layout: _Layout | Literal[False] = False
        if all(b is not None for b in bound):
            layout = _Layout([b.point for b in bound if b], [b.unit for b in bound if b])
        if len(self._layouts) < 10_000:
            self._layouts[names] = layout
        return layout

    def _one_by_one(
        self, batch: Batch, samples: list[WireSample], problems: list[Problem] | None = None
    ) -> Decoded:
        """A batch with unknown points, odd units or non-finite values: keep what is good."""
        problems = [] if problems is None else problems
        unknown: list[str] = []
        for s in samples:
            b = self._by_wire.get(s.point)
            if b is None:
                unknown.append(s.point)
                continue
            if not math.isfinite(s.value) or (s.unit and b.unit and s.unit != b.unit):
                problems.append(_sample_problem(s.point, s.value, s.unit, b.unit))
                continue
            batch.append(b.point, s.value, b.unit or s.unit, _QUALITY[s.quality], s.ts)
        if unknown:
            problems.append(_unknown(unknown))
        return Decoded(batch, problems)

    def _careful(self, device: str, payload: bytes, received: datetime) -> Decoded:
        try:
            raw = json.loads(payload)  # the stdlib accepts NaN/Infinity: named, not "malformed"
        except (ValueError, UnicodeDecodeError) as err:
            return _refuse(BadInputReason.MALFORMED_JSON, f"not JSON: {err}")
        try:
            env = msgspec.convert(raw, _Envelope)
        except msgspec.ValidationError as err:
            return _refuse(BadInputReason.WRONG_TYPE, f"telemetry envelope: {err}")
        if env.device != device:
            return _refuse(BadInputReason.WRONG_TYPE, _mismatch(device, env.device))
        if len(env.samples) > self._max:
            return _refuse(
                BadInputReason.OVERSIZED,
                f"{len(env.samples)} samples in one batch; at most {self._max} are accepted",
            )
        batch = Batch(source=self.source, stream=device, sequence=env.seq, received_ts=received)
        problems: list[Problem] = []
        samples: list[WireSample] = []
        for i, item in enumerate(env.samples):
            value = item.get("value") if isinstance(item, dict) else None
            if isinstance(value, float) and not math.isfinite(value):
                problems.append(
                    Problem(
                        BadInputReason.NOT_FINITE,
                        f"samples[{i}] ({item.get('point')}): value {value} is not a finite "
                        "number; send a number, or quality bad with the last good value",
                    )
                )
                continue
            try:
                samples.append(msgspec.convert(item, WireSample))
            except msgspec.ValidationError as err:
                problems.append(Problem(BadInputReason.WRONG_TYPE, f"samples[{i}]: {err}"))
        return self._one_by_one(batch, samples, problems)


def _refuse(reason: BadInputReason, detail: str) -> Decoded:
    return Decoded(None, [Problem(reason, detail)])


def _mismatch(topic_device: str, payload_device: str) -> str:
    return (
        f"device {payload_device!r} in the payload differs from {topic_device!r} in the topic; "
        "publish each device's telemetry on its own topic"
    )


def _unknown(points: list[str]) -> Problem:
    shown = ", ".join(sorted(set(points))[:5])
    return Problem(
        BadInputReason.UNKNOWN_POINT,
        f"{len(points)} sample(s) of points not in the site config ({shown}); "
        "add them to the config or stop publishing them",
        count=len(points),
    )


def _sample_problem(point: str, value: float, unit: str, expected: str) -> Problem:
    if not math.isfinite(value):
        return Problem(BadInputReason.NOT_FINITE, f"{point}: value {value} is not finite")
    return Problem(
        BadInputReason.UNIT_MISMATCH,
        f"{point}: unit {unit!r} but the site config says {expected!r}; fix the device or config",
    )


# --- commands, acks, status, heartbeat --------------------------------------------

"""Sparkplug B (spBv1.0) as a ``Wire``: births, deaths, data, commands, rebirth requests.

gridaios is a Sparkplug *host application*: it announces itself on
``spBv1.0/STATE/<host id>`` (retained; the last will says offline), learns each edge
node's metric names and aliases from NBIRTH/DBIRTH, tracks ``bdSeq`` (which death belongs
to which birth) and ``seq`` (0..255 per node, wrapping), and asks a node to be born again
(NCMD ``Node Control/Rebirth``) when its sequence breaks or it speaks an alias it never
announced. A death makes every known point of the node (or device) bad at once.

Point names on this wire are ``<edge node>/<metric>`` or ``<edge node>/<device>/<metric>``.
Commands go out as DCMD with a payload timestamp, the setpoint metric in the datatype the
device announced for it in its birth (a Float stays a Float), stamped. A standard edge
(no gridaios metrics) confirms a command by publishing the written metric in DDATA at the
commanded value, which this wire turns into the ack; an edge that implements the key
contract also gets ``gridaios/cmd_key`` and ``gridaios/valid_until`` and confirms with
``gridaios/cmd_key_applied``. An NDEATH whose bdSeq is not the current birth's is the
death of an earlier session: logged and counted, and ignored as the specification says.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from google.protobuf.message import DecodeError

from connectors.badinput import BadInputReason
from connectors.errors import WriteRefused
from connectors.mqtt import sparkplug_b_pb2 as pb
from connectors.mqtt.codec import Problem
from connectors.mqtt.wire import Ack, DeviceState, Outcome, Publish, Refused, Telemetry
from connectors.normalize import Batch
from connectors.points import PointBinding
from connectors.sample import SampleQuality

log = logging.getLogger(__name__)

NAMESPACE = "spBv1.0"
REBIRTH_METRIC = "Node Control/Rebirth"
KEY_METRIC = "gridaios/cmd_key"
APPLIED_METRIC = "gridaios/cmd_key_applied"
VALID_UNTIL_METRIC = "gridaios/valid_until"
REBIRTH_EVERY = timedelta(seconds=5)
_SIGNED_BITS = {1: 8, 2: 16, 3: 32, 4: 64}
_NUMERIC = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}


@dataclass(slots=True)
class _Node:
    bd_seq: int | None = None
    last_seq: int | None = None
    unwrapped: int = -1
    # per device ("" for the node itself): alias -> (metric name, the point it feeds or None)
    aliases: dict[str, dict[int, tuple[str, PointBinding | None]]] = field(default_factory=dict)
    last_rebirth: datetime | None = None


class SparkplugWire:
    kind = "mqtt-sparkplug"

    def __init__(
        self,
        source: str,
        group: str,
        host_id: str,
        points: list[PointBinding],
        *,
        by_link: bool = False,
    ) -> None:
        self.source = source
        # freshness by link: a value is current while its node is born and not dead
        self.by_link = by_link
        self._last: dict[str, tuple[str, float, str, SampleQuality]] = {}
        self.group = group
        self.host_id = host_id
        self._by_wire = {b.node_id: b for b in points}
        self._nodes: dict[str, _Node] = {}
        self._last_setpoint: dict[str, float] = {}  # per "<edge>/<device>/": what it holds
        self._datatypes: dict[str, int] = {}  # wire name -> datatype from its birth
        # standard edges: wire name -> (key, value, tolerance) until DDATA reports it
        self._pending: dict[str, tuple[str, float, float]] = {}
        self.stale_deaths = 0  # NDEATHs of earlier sessions (bdSeq not the current birth's)
        self._commanded: dict[str, str] = {}  # per "<edge>/<device>/": the setpoint metric

    # --- topics -----------------------------------------------------------------

    def subscriptions(self) -> list[str]:
        return [f"{NAMESPACE}/{self.group}/#"]

    def _state_topic(self) -> str:
        return f"{NAMESPACE}/STATE/{self.host_id}"

    def will(self, now: datetime) -> Publish:
        body = json.dumps({"online": False, "timestamp": _ms(now)}).encode()
        return Publish(self._state_topic(), body, retain=True)

    def online(self, now: datetime) -> list[Publish]:
        body = json.dumps({"online": True, "timestamp": _ms(now)}).encode()
        return [Publish(self._state_topic(), body, retain=True)]

    def heartbeat(self, seq: int, now: datetime) -> Publish | None:
        return None  # Sparkplug liveness is the STATE message and the broker's will

    # --- decoding ---------------------------------------------------------------

    def decode(self, topic: str, payload: bytes, received: datetime) -> Outcome:
        parts = topic.split("/")
        if len(parts) < 4 or parts[0] != NAMESPACE or parts[1] != self.group:
            return _refused(
                BadInputReason.UNKNOWN_TOPIC, f"{topic!r} is not {NAMESPACE}/{self.group}/…"
            )
        kind, edge = parts[2], parts[3]
        device = parts[4] if len(parts) == 5 else None
        if kind in ("NCMD", "DCMD") or len(parts) > 5:
            return (
                Outcome(None)
                if kind in ("NCMD", "DCMD")
                else _refused(BadInputReason.UNKNOWN_TOPIC, f"{topic!r} has too many levels")
            )
        if kind not in ("NBIRTH", "NDEATH", "DBIRTH", "DDEATH", "NDATA", "DDATA"):
            return _refused(BadInputReason.UNKNOWN_TOPIC, f"unknown Sparkplug message type {kind}")
        if kind.startswith("D") and device is None:
            return _refused(BadInputReason.UNKNOWN_TOPIC, f"{kind} without a device id: {topic!r}")
        message = pb.Payload()
        try:
            message.ParseFromString(payload)
        except DecodeError as err:
            return _refused(BadInputReason.MALFORMED_PROTOBUF, f"{topic}: {err}")
        node = self._nodes.setdefault(edge, _Node())
        if kind == "NBIRTH":
            return self._nbirth(edge, node, message, received)
        if kind == "NDEATH":
            return self._ndeath(edge, node, message, received)
        if node.bd_seq is None:  # data or device births before the node was born
            return self._unknown_node(edge, node, kind, received)
        replies = self._check_seq(edge, node, message, received)
        if kind == "DDEATH":
            assert device is not None
            return Outcome(
                Telemetry(self._stale(edge, device, node, received)),
                replies,
                states=[DeviceState(f"{edge}/{device}", "offline")],
            )
        if kind == "DBIRTH":
            assert device is not None
            self._learn_aliases(edge, node, device, message)
        outcome = self._data(edge, device, node, message, received)
        states = [DeviceState(f"{edge}/{device}", "online")] if kind == "DBIRTH" else []
        return Outcome(
            outcome.event,
            [*replies, *outcome.replies],
            acks=outcome.acks,
            states=states,
        )

    def _nbirth(self, edge: str, node: _Node, message: pb.Payload, received: datetime) -> Outcome:
        bd_seq = _metric_int(message, "bdSeq")
        node.bd_seq = bd_seq if bd_seq is not None else -1
        node.aliases = {}
        node.last_seq = message.seq if message.HasField("seq") else 0
        node.unwrapped = -1
        self._learn_aliases(edge, node, None, message)
        outcome = self._data(edge, None, node, message, received, new_session=True)
        return Outcome(outcome.event, outcome.replies, outcome.acks, [DeviceState(edge, "online")])

    def _ndeath(self, edge: str, node: _Node, message: pb.Payload, received: datetime) -> Outcome:
        bd_seq = _metric_int(message, "bdSeq")
        if node.bd_seq is None or (bd_seq is not None and bd_seq != node.bd_seq):
            # the death of an earlier session (the broker delivered an old will late): the
            # node is alive in its current birth; ignored, as the specification requires
            self.stale_deaths += 1
            log.warning(
                "Sparkplug source %s: NDEATH of %s with bdSeq %s ignored: the current birth "
                "has bdSeq %s",
                self.source,
                edge,
                bd_seq,
                node.bd_seq,
            )
            return Outcome(None)
        node.bd_seq = None
        batch = self._stale(edge, None, node, received)
        return Outcome(Telemetry(batch), states=[DeviceState(edge, "offline")])

    def _unknown_node(self, edge: str, node: _Node, kind: str, received: datetime) -> Outcome:
        problem = Problem(
            BadInputReason.UNKNOWN_ALIAS,
            f"{kind} from edge node {edge} before its NBIRTH; asked it to be born again",
        )
        return Outcome(Refused(problem), self._rebirth(edge, node, received))

    def _check_seq(
        self, edge: str, node: _Node, message: pb.Payload, received: datetime
    ) -> list[Publish]:
        if not message.HasField("seq") or node.last_seq is None:
            return []
        seq = message.seq % 256
        if seq == node.last_seq:
            return []  # a redelivery: the normalizer drops it as a duplicate
        step = (seq - node.last_seq) % 256
        node.last_seq = seq
        if step != 1:
            return self._rebirth(edge, node, received)
        return []

    def _rebirth(self, edge: str, node: _Node, now: datetime) -> list[Publish]:
        if node.last_rebirth is not None and now - node.last_rebirth < REBIRTH_EVERY:
            return []
        node.last_rebirth = now
        request = pb.Payload(timestamp=_ms(now))
        metric = request.metrics.add()
        metric.name = REBIRTH_METRIC
        metric.datatype = pb.Boolean
        metric.boolean_value = True
        return [Publish(f"{NAMESPACE}/{self.group}/NCMD/{edge}", request.SerializeToString())]

    def _learn_aliases(
        self, edge: str, node: _Node, device: str | None, message: pb.Payload
    ) -> None:
        """Resolve each announced alias once, at birth: data messages only look it up."""
        prefix = f"{edge}/{device}/" if device else f"{edge}/"
        table = node.aliases.setdefault(device or "", {})
        for metric in message.metrics:
            if metric.name and metric.HasField("datatype"):
                self._datatypes[prefix + metric.name] = metric.datatype
            if metric.HasField("alias") and metric.name:
                table[metric.alias] = (metric.name, self._by_wire.get(prefix + metric.name))

    def _data(
        self,
        edge: str,
        device: str | None,
        node: _Node,
        message: pb.Payload,
        received: datetime,
        *,
        new_session: bool = False,
    ) -> Outcome:
        seq = message.seq % 256 if message.HasField("seq") else 0
        if node.unwrapped < 0:
            node.unwrapped = seq
        else:
            node.unwrapped += (seq - node.unwrapped) % 256
        default_ts = _from_ms(message.timestamp) if message.HasField("timestamp") else received
        problems: list[Problem] = []
        acks: list[Ack] = []
        replies: list[Publish] = []
        prefix = f"{edge}/{device}/" if device else f"{edge}/"
        aliases = node.aliases.get(device or "", {})
        by_wire = self._by_wire
        commanded = self._commanded.get(prefix)
        points: list[str] = []
        values: list[float] = []
        units: list[str] = []
        qualities: list[SampleQuality] = []
        stamps: list[datetime] = []
        good, bad = SampleQuality.GOOD, SampleQuality.BAD
        for metric in message.metrics:
            name = metric.name
            if name:
                binding = by_wire.get(prefix + name)
            else:
                entry = aliases.get(metric.alias) if metric.HasField("alias") else None
                if entry is None:
                    problems.append(
                        Problem(
                            BadInputReason.UNKNOWN_ALIAS,
                            f"alias {metric.alias} of {prefix[:-1]} was never announced in a birth",
                        )
                    )
                    replies = self._rebirth(edge, node, received)
                    continue
                name, binding = entry
            if name == APPLIED_METRIC and metric.HasField("string_value"):
                acks.append(
                    Ack(metric.string_value, "applied", self._last_setpoint.get(prefix), "")
                )
                continue
            which = metric.WhichOneof("value")
            if which == "double_value" or which == "float_value":
                value: float | None = getattr(metric, which)
            else:
                value = _numeric(metric)
            if commanded == name and value is not None:
                self._last_setpoint[prefix] = value
                pending = self._pending.get(prefix + name)
                if pending is not None and abs(value - pending[1]) <= pending[2]:
                    # a standard edge's confirmation: the written metric at its new value
                    del self._pending[prefix + name]
                    acks.append(Ack(pending[0], "applied", value, ""))
            if binding is None:
                continue  # edge nodes publish many metrics a site does not use
            if self.by_link:
                ts = received  # as old as the link's word for it (see confirm)
            else:
                ts = _from_ms(metric.timestamp) if metric.HasField("timestamp") else default_ts
            if metric.is_null:
                value, quality = math.nan, bad
            elif value is None or not math.isfinite(value):
                reason = BadInputReason.WRONG_TYPE if value is None else BadInputReason.NOT_FINITE
                problems.append(
                    Problem(reason, f"{prefix}{name}: datatype {metric.datatype} is not a number")
                )
                continue
            else:
                quality = good
            points.append(binding.point)
            values.append(value)
            units.append(binding.unit)
            qualities.append(quality)
            stamps.append(ts)
            if self.by_link:
                self._last[prefix + name] = (binding.point, value, binding.unit, quality)
        batch = Batch(
            source=self.source,
            stream=edge,
            sequence=node.unwrapped,
            received_ts=received,
            points=points,
            values=values,
            units=units,
            qualities=qualities,
            source_ts=stamps,
            flags=[0] * len(points),
        )
        return Outcome(Telemetry(batch, problems, new_session=new_session), replies, acks)

    def _stale(self, edge: str, device: str | None, node: _Node, now: datetime) -> Batch:
        """Every bound point under a dead node or device: bad, now."""
        prefix = f"{edge}/{device}/" if device else f"{edge}/"
        for wire in [w for w in self._last if w.startswith(prefix)]:
            del self._last[wire]  # dead: nothing confirms these any more
        node.unwrapped += 1
        batch = Batch(source=self.source, stream=edge, sequence=node.unwrapped, received_ts=now)
        for wire, binding in self._by_wire.items():
            if wire.startswith(prefix):
                batch.append(binding.point, math.nan, binding.unit, SampleQuality.BAD, now)
        return batch

    # --- commands -----------------------------------------------------------------

    def confirm(self, now: datetime) -> Batch | None:
        """Freshness by link: the last value of every point whose node is born and not dead
        (and whose device is not dead), stamped ``now``; the caller calls this only while
        its broker session is up."""
        if not self.by_link or not self._last:
            return None
        last = list(self._last.values())
        return Batch(
            source=self.source,
            stream="link",
            sequence=0,
            received_ts=now,
            points=[v[0] for v in last],
            values=[v[1] for v in last],
            units=[v[2] for v in last],
            qualities=[v[3] for v in last],
            source_ts=[now] * len(last),
            flags=[0] * len(last),
        )

    def resolution(self, point: str, value: float) -> float:
        """How far a faithful report of ``value`` may be, in the metric's datatype."""
        return max(1e-6, _resolution(self._datatypes.get(point, pb.Double), value))

    def command(
        self,
        key: str,
        point: str,
        value: float,
        valid_until: datetime,
        *,
        keyed: bool = True,
        now: datetime | None = None,
    ) -> Publish:
        """A DCMD: payload and metric timestamps, the setpoint in its announced datatype;
        the gridaios key metrics only for an edge that implements them (``keyed``)."""
        parts = point.split("/")
        if len(parts) != 3:
            raise ValueError(
                f"Sparkplug setpoint {point!r} must be <edge node>/<device>/<metric> for a DCMD"
            )
        edge, device, name = parts
        self._commanded[f"{edge}/{device}/"] = name
        stamp = _ms(now or datetime.now(UTC))
        message = pb.Payload(timestamp=stamp)
        datatype = self._datatypes.get(point, pb.Double)
        metric = message.metrics.add()
        metric.name = name
        metric.timestamp = stamp
        metric.datatype = datatype
        sent = _set_value(metric, datatype, value, point)
        if keyed:
            for metric_name, kind, val in (
                (KEY_METRIC, pb.String, key),
                (VALID_UNTIL_METRIC, pb.DateTime, _ms(valid_until)),
            ):
                extra = message.metrics.add()
                extra.name = metric_name
                extra.timestamp = stamp
                extra.datatype = kind
                if kind == pb.String:
                    extra.string_value = str(val)
                else:
                    extra.long_value = int(val)
        else:
            self._pending[point] = (key, sent, _resolution(datatype, sent))
        return Publish(
            f"{NAMESPACE}/{self.group}/DCMD/{edge}/{device}", message.SerializeToString()
        )


_UNSIGNED_BITS = {5: 8, 6: 16, 7: 32, 8: 64}


def _set_value(metric: pb.Payload.Metric, datatype: int, value: float, point: str = "") -> float:
    """Encode ``value`` as ``datatype`` (two's complement for negative integers, as the
    specification says); the value as the edge will hold it. A value the datatype cannot
    carry is refused (``WriteRefused``), never wrapped: an Int16 setpoint of 40000 would
    reach the edge as -25536, a discharge to a UInt16 as 65436."""
    if not math.isfinite(value):
        raise WriteRefused(f"Sparkplug setpoint {point}: value {value} is not finite")
    if datatype == pb.Float:
        metric.float_value = value
        return float(metric.float_value)
    if datatype == pb.Boolean:
        if value not in (0.0, 1.0):
            raise WriteRefused(
                f"Sparkplug setpoint {point}: {value:g} is not 0 or 1 for a Boolean metric"
            )
        metric.boolean_value = value != 0
        return 1.0 if value != 0 else 0.0
    if datatype in _SIGNED_BITS or datatype in _UNSIGNED_BITS:
        whole = round(value)
        if datatype in _SIGNED_BITS:
            bits = _SIGNED_BITS[datatype]
            low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        else:
            low, high = 0, (1 << _UNSIGNED_BITS[datatype]) - 1
        if not low <= whole <= high:
            raise WriteRefused(
                f"Sparkplug setpoint {point}: the datatype announced in its birth "
                f"({pb.DataType.Name(datatype)}) cannot carry {value:g} (range {low}..{high})"
            )
        if datatype in (pb.Int64, pb.UInt64):
            metric.long_value = whole & 0xFFFFFFFFFFFFFFFF
        else:
            metric.int_value = whole & 0xFFFFFFFF
        return float(whole)
    metric.double_value = value
    return value


def _resolution(datatype: int, value: float) -> float:
    if datatype == pb.Float:
        return 1e-6 + abs(value) * 1.2e-7
    if datatype == pb.Double:
        return 1e-9 + abs(value) * 1e-12
    return 0.5


def _refused(reason: BadInputReason, detail: str) -> Outcome:
    return Outcome(Refused(Problem(reason, detail)))


def _metric_int(message: pb.Payload, name: str) -> int | None:
    for metric in message.metrics:
        if metric.name == name:
            which = metric.WhichOneof("value")
            return int(getattr(metric, which)) if which else None
    return None


def _numeric(metric: pb.Payload.Metric) -> float | None:
    which = metric.WhichOneof("value")
    if which is None or (metric.datatype not in _NUMERIC and metric.datatype != 0):
        return None
    if which in ("int_value", "long_value"):
        raw = int(getattr(metric, which))
        bits = _SIGNED_BITS.get(metric.datatype)
        if bits is not None:
            raw &= (1 << bits) - 1
            if raw >= 1 << (bits - 1):
                raw -= 1 << bits
        return float(raw)
    if which in ("float_value", "double_value"):
        return float(getattr(metric, which))
    if which == "boolean_value":
        return 1.0 if metric.boolean_value else 0.0
    return None


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)

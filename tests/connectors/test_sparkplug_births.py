"""A device's DBIRTH replaces what the host knew of it, and a dead device stays dead
until it is born again (Sparkplug B 3.0: a host must not take DDATA of a device that
is not born; it asks for a rebirth)."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors import PointBinding
from connectors.badinput import BadInputReason
from connectors.mqtt import sparkplug_b_pb2 as pb
from connectors.mqtt.sparkplug import SparkplugWire
from connectors.mqtt.wire import Refused, Telemetry

T0 = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)
GROUP = "spBv1.0/site1"


def _payload(seq: int, metrics: list[tuple[str | None, int | None, float]]) -> bytes:
    message = pb.Payload(timestamp=int(T0.timestamp() * 1000), seq=seq)
    for name, alias, value in metrics:
        m = message.metrics.add(datatype=pb.Float)
        if name is not None:
            m.name = name
        if alias is not None:
            m.alias = alias
        m.float_value = value
    return bytes(message.SerializeToString())


def _wire(*, by_link: bool = False) -> SparkplugWire:
    points = [PointBinding(point="bat1.p_kw", node_id="edge1/bess1/ActivePower", unit="kW")]
    return SparkplugWire("bus", "site1", "gridaios", points, by_link=by_link)


def _nbirth(wire: SparkplugWire) -> None:
    message = pb.Payload(timestamp=int(T0.timestamp() * 1000), seq=0)
    m = message.metrics.add(name="bdSeq", datatype=pb.Int64)
    m.long_value = 1
    wire.decode(f"{GROUP}/NBIRTH/edge1", message.SerializeToString(), T0)


def _points(outcome: object) -> dict[str, float]:
    event = getattr(outcome, "event", None)
    if not isinstance(event, Telemetry):
        return {}
    batch = event.batch
    if batch is None:
        return {}
    return dict(zip(batch.points, batch.values, strict=True))


def test_a_dbirth_forgets_the_aliases_of_the_device_s_earlier_birth() -> None:
    wire = _wire()
    _nbirth(wire)
    wire.decode(
        f"{GROUP}/DBIRTH/edge1/bess1",
        _payload(1, [("ActivePower", 5, 0.0), ("Temperature", 6, 20.0)]),
        T0,
    )
    wire.decode(f"{GROUP}/DDEATH/edge1/bess1", _payload(2, []), T0)
    # reborn after a firmware update: ActivePower is alias 7 now, 5 is not announced
    wire.decode(f"{GROUP}/DBIRTH/edge1/bess1", _payload(3, [("ActivePower", 7, 0.0)]), T0)
    out = wire.decode(f"{GROUP}/DDATA/edge1/bess1", _payload(4, [(None, 5, 999.0)]), T0)
    assert "bat1.p_kw" not in _points(out), "alias 5 of the old birth read as ActivePower"
    assert isinstance(out.event, Telemetry)
    assert [p.reason for p in out.event.problems] == [BadInputReason.UNKNOWN_ALIAS]
    assert out.replies and "/NCMD/edge1" in out.replies[0].topic  # a rebirth request


def test_ddata_of_a_dead_device_is_not_taken_and_asks_for_a_rebirth() -> None:
    wire = _wire(by_link=True)
    _nbirth(wire)
    wire.decode(f"{GROUP}/DBIRTH/edge1/bess1", _payload(1, [("ActivePower", 5, 10.0)]), T0)
    wire.decode(f"{GROUP}/DDEATH/edge1/bess1", _payload(2, []), T0)
    out = wire.decode(f"{GROUP}/DDATA/edge1/bess1", _payload(3, [(None, 5, 50.0)]), T0)
    assert "bat1.p_kw" not in _points(out), "a dead device's DDATA made its point good"
    assert isinstance(out.event, Refused | Telemetry)
    assert wire.confirm(T0) is None  # nothing of the dead device is confirmed by the link
    assert out.replies and "/NCMD/edge1" in out.replies[0].topic

"""The host's DCMD as the Sparkplug B specification has it, on the wire alone."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from connectors import PointBinding, WriteRefused
from connectors.mqtt import sparkplug_b_pb2 as pb
from connectors.mqtt.sparkplug import KEY_METRIC, SparkplugWire

T0 = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)
SETPOINT = "edge1/bess1/ActivePowerSetpoint"


def _message(seq: int, metrics: list[tuple[str, int, float]], bd_seq: int | None = None) -> bytes:
    message = pb.Payload(timestamp=int(T0.timestamp() * 1000), seq=seq)
    if bd_seq is not None:
        m = message.metrics.add(name="bdSeq", datatype=pb.Int64)
        m.long_value = bd_seq
    for name, datatype, value in metrics:
        m = message.metrics.add(name=name, datatype=datatype)
        if datatype == pb.Float:
            m.float_value = value
        elif datatype == pb.Int16:
            m.int_value = int(value) & 0xFFFFFFFF
        else:
            m.double_value = value
    return message.SerializeToString()


def _born(wire: SparkplugWire, datatype: int = pb.Float) -> None:
    wire.decode("spBv1.0/site1/NBIRTH/edge1", _message(0, [], bd_seq=3), T0)
    wire.decode(
        "spBv1.0/site1/DBIRTH/edge1/bess1",
        _message(1, [("ActivePowerSetpoint", datatype, 0.0), ("ActivePower", pb.Float, 0.0)]),
        T0,
    )


def _wire() -> SparkplugWire:
    points = [PointBinding(point="bat1.p_kw", node_id="edge1/bess1/ActivePower", unit="kW")]
    return SparkplugWire("bus", "site1", "gridaios", points)


def test_a_standard_dcmd_is_stamped_typed_and_confirmed_by_ddata() -> None:
    wire = _wire()
    _born(wire)
    msg = wire.command("k1", SETPOINT, -80.3, T0 + timedelta(minutes=5), keyed=False, now=T0)
    assert msg.topic == "spBv1.0/site1/DCMD/edge1/bess1"
    sent = pb.Payload()
    sent.ParseFromString(msg.payload)
    assert sent.HasField("timestamp") and sent.timestamp == int(T0.timestamp() * 1000)
    (metric,) = sent.metrics  # no gridaios metrics on a standard edge
    assert metric.name == "ActivePowerSetpoint" and metric.datatype == pb.Float
    assert metric.HasField("timestamp") and metric.WhichOneof("value") == "float_value"
    # the old value in DDATA confirms nothing; the written one does
    stale = wire.decode(
        "spBv1.0/site1/DDATA/edge1/bess1", _message(2, [("ActivePowerSetpoint", pb.Float, 0)]), T0
    )
    assert stale.acks == []
    done = wire.decode(
        "spBv1.0/site1/DDATA/edge1/bess1",
        _message(3, [("ActivePowerSetpoint", pb.Float, metric.float_value)]),
        T0,
    )
    (ack,) = done.acks
    assert (ack.key, ack.status) == ("k1", "applied")
    assert abs(ack.value - -80.3) <= wire.resolution(SETPOINT, -80.3)  # type: ignore[operator]


def test_integer_setpoints_go_as_twos_complement_and_keyed_edges_get_the_key() -> None:
    wire = _wire()
    _born(wire, pb.Int16)
    msg = wire.command("k2", SETPOINT, -12.4, T0 + timedelta(minutes=5), keyed=True, now=T0)
    sent = pb.Payload()
    sent.ParseFromString(msg.payload)
    setpoint, key, _valid = sent.metrics
    assert setpoint.datatype == pb.Int16 and setpoint.int_value == (-12) & 0xFFFFFFFF
    assert key.name == KEY_METRIC and key.string_value == "k2" and key.HasField("timestamp")


def test_a_death_of_an_earlier_session_is_logged_and_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wire = _wire()
    _born(wire)
    with caplog.at_level(logging.WARNING):
        out = wire.decode("spBv1.0/site1/NDEATH/edge1", _message(0, [], bd_seq=2), T0)
    assert out.event is None and wire.stale_deaths == 1
    assert "NDEATH of edge1 with bdSeq 2 ignored: the current birth has bdSeq 3" in caplog.text
    dead = wire.decode("spBv1.0/site1/NDEATH/edge1", _message(0, [], bd_seq=3), T0)
    assert dead.event is not None  # its own death: every point bad


@pytest.mark.parametrize(
    ("datatype", "value"),
    [
        (pb.Int16, 40000.0),  # would wrap to -25536: charge becomes discharge
        (pb.Int16, -40000.0),
        (pb.UInt16, -100.0),  # a discharge to an unsigned metric: 65436
        (pb.UInt32, -0.6),
        (pb.Int8, 200.0),
        (pb.Boolean, 0.3),  # not 0 or 1: the OPC UA path refuses the same
    ],
)
def test_a_setpoint_its_datatype_cannot_carry_is_refused_not_wrapped(
    datatype: int, value: float
) -> None:
    wire = _wire()
    _born(wire, datatype)
    with pytest.raises(WriteRefused, match=r"cannot carry|not 0 or 1"):
        wire.command("k9", SETPOINT, value, T0 + timedelta(minutes=5), keyed=False, now=T0)

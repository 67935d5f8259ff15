"""Standard control of a device nobody here wrote: node-opcua, its own namespace, a Float
setpoint, no key nodes, report-on-change values (tests/interop/node-opcua/device.js)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from connectors import (
    MemoryDeadLetters,
    PointBinding,
    Sample,
    SampleQuality,
    WriteRefused,
    WriteTarget,
)
from connectors.opcua import OpcUaClient, OpcUaSourceConfig
from tests.support.approved import approved
from tests.support.nodedevice import NodeDevice
from tests.support.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def battery() -> Iterator[NodeDevice]:
    with NodeDevice("battery") as device:
        yield device


def _config(device: NodeDevice, **extra: object) -> OpcUaSourceConfig:
    return OpcUaSourceConfig.model_validate(
        {
            "id": "bess",
            "endpoint": device.endpoint,
            "allow_insecure": True,
            "publishing_interval_ms": 50,
            **extra,
        }
    )


def _node(device: NodeDevice, name: str) -> str:
    return f"ns={device.ns};s=BESS1.{name}"


def _run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_a_float_setpoint_is_written_as_float_and_confirmed_by_read_back(
    battery: NodeDevice,
) -> None:
    points = [PointBinding(point="bess.p_kw", node_id=_node(battery, "ActivePower"), unit="kW")]
    got: list[Sample] = []

    async def main() -> None:
        client = OpcUaClient(_config(battery), points, got.append, now)
        await client.connect()
        try:
            target = WriteTarget(value_node=_node(battery, "ActivePowerSetpoint"), unit="kW")
            assert target.keyless
            result = await client.write(approved("std-1", "bess", -80.3, now()), target)
            # -80.3 is not a Float: the read-back is -80.30000305..., within the Float's
            # resolution, and the device's measured power follows the setpoint
            assert result.verified and result.applied_key == "std-1", result
            assert result.readback_value != -80.3 and abs(result.readback_value + 80.3) < 1e-4
            await until(lambda: any(abs(s.value + 80.3) < 1e-3 for s in got), 10, "response")
            result = await client.write(approved("std-2", "bess", 0.0, now()), target)
            assert result.verified
        finally:
            await client.close()

    _run(main())


def test_permanent_refusals_end_at_once_and_leave_the_setpoint_alone(battery: NodeDevice) -> None:
    async def main() -> None:
        client = OpcUaClient(_config(battery), [], None, now)
        await client.connect()
        try:
            setpoint = _node(battery, "ActivePowerSetpoint")
            cmd = approved("bad-1", "bess", 42.0, now())
            # the server's own refusal: a Double to a Float node
            with pytest.raises(WriteRefused, match="BadTypeMismatch"):
                await client.write(cmd, WriteTarget(value_node=setpoint, data_type="Double"))
            # not writable: refused from the node's AccessLevel before anything is sent
            with pytest.raises(WriteRefused, match="not writable"):
                await client.write(cmd, WriteTarget(value_node=_node(battery, "MaxDischargePower")))
            # a String node is not a setpoint
            with pytest.raises(WriteRefused, match="String, not a number"):
                await client.write(cmd, WriteTarget(value_node=_node(battery, "Name")))
            # a value its wire type cannot carry: 42 kW in 0.001 kW as Int16 is 42000
            with pytest.raises(WriteRefused, match=r"outside Int16"):
                await client.write(
                    cmd, WriteTarget(value_node=setpoint, data_type="Int16", scale=0.001)
                )
            assert client.state.value == "connected"  # the link is fine
            readback = await client._require_client().get_node(setpoint).read_value()
            assert readback == 0.0  # none of them reached the device
        finally:
            await client.close()

    _run(main())


def test_a_status_word_as_kw_and_a_unit_mismatch_are_refused_with_reasons(
    battery: NodeDevice,
) -> None:
    dead = MemoryDeadLetters()
    got: list[Sample] = []
    points = [
        PointBinding(point="bess.state", node_id=_node(battery, "OperatingState"), unit="kW"),
        PointBinding(point="bess.soc_pct", node_id=_node(battery, "StateOfCharge"), unit="kW"),
        PointBinding(point="bess.name", node_id=_node(battery, "Name"), unit=""),
        PointBinding(point="bess.p_kw", node_id=_node(battery, "ActivePower"), unit="kW"),
        PointBinding(
            point="bess.mode", node_id=_node(battery, "OperatingState"), unit="", data_type=None
        ),
    ]

    async def main() -> None:
        client = OpcUaClient(_config(battery), points, got.append, now, dead_letters=dead)
        await client.connect()
        try:
            await until(lambda: {"bess.p_kw", "bess.mode"} <= {s.point for s in got})
            await asyncio.sleep(0.3)
            assert set(client.refused) == {"bess.state", "bess.soc_pct", "bess.name"}
            assert "Int32 without EngineeringUnits" in client.refused["bess.state"]
            assert "'%'" in client.refused["bess.soc_pct"]
            assert "String, not a number" in client.refused["bess.name"]
            assert not {"bess.state", "bess.soc_pct", "bess.name"} & {s.point for s in got}
        finally:
            await client.close()

    _run(main())
    reasons = sorted(r.split(":")[0] for _, _, r, _, _ in dead.items)
    assert reasons == ["unit_mismatch", "wrong_type", "wrong_type"]


def test_link_freshness_keeps_report_on_change_values_current_while_the_link_lives() -> None:
    with NodeDevice("meter", args=("--meter-kw", "1234")) as meter:
        binding = [
            PointBinding(point="sub.p_kw", node_id=f"ns={meter.ns};s=Meter.ActivePower", unit="kW")
        ]
        by_time: list[Sample] = []
        by_link: list[Sample] = []

        async def main() -> None:
            plain = OpcUaClient(_config(meter), binding, by_time.append, now)
            linked = OpcUaClient(
                _config(meter, freshness="link", keepalive_s=0.3), binding, by_link.append, now
            )
            await plain.connect()
            await linked.connect()
            try:
                await until(lambda: len(by_link) >= 6, 10, "confirmations")
                # the value never changed: the server sent it once; the link confirms it
                assert len(by_time) == 1 and by_time[0].value == 1234.0
                assert {s.value for s in by_link} == {1234.0}
                assert all(s.quality is SampleQuality.GOOD for s in by_link)
                gaps = [
                    (b.source_ts - a.source_ts).total_seconds()
                    for a, b in itertools.pairwise(by_link)
                ]
                assert max(gaps) < 1.5, gaps
                assert (now() - by_link[-1].source_ts).total_seconds() < 1.5
                assert (now() - by_time[0].source_ts).total_seconds() > 1.0
                # the device dies: nothing confirms the value any more, so it ages
                meter.kill()
                await asyncio.sleep(1.5)
                seen = len(by_link)
                await asyncio.sleep(1.5)
                assert len(by_link) == seen
                assert (now() - by_link[-1].source_ts).total_seconds() > 1.4
            finally:
                await plain.close()
                await linked.close()

        _run(main())


def test_a_server_restarted_with_a_retyped_setpoint_is_written_in_its_new_type() -> None:
    """A firmware update retypes the setpoint (Float to Double) under the same node id:
    after the reconnect the node's DataType is read again, not taken from the cache of
    the old session (that made every later write a permanent BadTypeMismatch refusal)."""
    device = NodeDevice("battery").start()
    try:

        async def main() -> None:
            config = _config(device, reconnect_min_s=0.2, reconnect_max_s=1.0)
            client = OpcUaClient(config, [], None, now)
            await client.connect()
            try:
                target = WriteTarget(value_node=_node(device, "ActivePowerSetpoint"), unit="kW")
                assert (await client.write(approved("rt-1", "bess", 10.0, now()), target)).verified
                device.kill()
                device.args = ("--setpoint-type", "Double")
                device.start()
                await until(lambda: client.state.value == "reconnecting", 20, "drop seen")
                await until(lambda: client.state.value == "connected", 30, "reconnect")
                result = await client.write(approved("rt-2", "bess", 20.4, now()), target)
                assert result.verified and result.readback_value == 20.4, result
            finally:
                await client.close()

        _run(main())
    finally:
        device.stop()

"""The virtual field's links and faults, seen over the wire by a real asyncua client.

The test drives the field's clock step by step (no sleeps): each ``step(t)``
advances SimPy to ``t`` and publishes; the client then reads what a runtime
would read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from asyncua import Client, ua

from runtime.config import site
from runtime.config.model import SiteConfig, load_config, parse_config
from runtime.demo.feeder import free_port
from simulator import NetworkError, VirtualField, load_network, load_scenario
from simulator.scenario import Scenario, ScenarioError

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "configs" / "scenarios"
pytestmark = pytest.mark.integration


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def scenario(name: str, **changes: object) -> Scenario:
    base = load_scenario(str(SCENARIOS / f"{name}.yaml"))
    return Scenario.model_validate({**base.model_dump(), **changes})


@asynccontextmanager
async def served(
    sc: Scenario, *, network: bool = False
) -> AsyncIterator[tuple[VirtualField, Client, Clock]]:
    config = load_config(REPO / "configs" / "demo-feeder.yaml")
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/gridaios/field"
    clock = Clock(sc.start)
    net = load_network(REPO / "configs" / "networks" / "demo-feeder.yaml") if network else None
    field = VirtualField(site.field_spec(config), sc, clock, endpoint, network=net)
    await field.start()
    client = Client(endpoint)
    await client.connect()
    try:
        yield field, client, clock
    finally:
        await client.disconnect()
        await field.stop()


async def read(client: Client, point: str) -> ua.DataValue:
    return await client.get_node(f"ns=2;s={point}").read_data_value(raise_on_bad_status=False)


async def advance(field: VirtualField, clock: Clock, to: datetime, step_s: float = 10) -> None:
    while clock.now < to:
        clock.now = min(to, clock.now + timedelta(seconds=step_s))
        await field.step(clock.now)


async def command(client: Client, key: str, value_kw: float) -> None:
    await client.get_node("ns=2;s=bat1.p_setpoint_kw").write_value(
        ua.DataValue(ua.Variant(value_kw, ua.VariantType.Double))
    )
    await client.get_node("ns=2;s=bat1.cmd_key").write_value(
        ua.DataValue(ua.Variant(key, ua.VariantType.String))
    )


def at(sc: Scenario, hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return sc.start.replace(hour=h, minute=m, second=0)


async def test_comms_loss_freezes_timestamps_and_loses_commands() -> None:
    sc = scenario("comms-loss", comms={"latency_ms": 0, "loss_pct": 0}, response_delay_s=0)
    async with served(sc) as (field, client, clock):
        await advance(field, clock, at(sc, "18:29"))
        before = await read(client, "substation.p_kw")
        assert before.SourceTimestamp >= at(sc, "18:28")
        await advance(field, clock, at(sc, "18:35"))
        during = await read(client, "substation.p_kw")
        # nothing came through: the runtime sees the value age
        assert during.SourceTimestamp <= at(sc, "18:30")
        await command(client, "k-during-outage", 200.0)
        await advance(field, clock, at(sc, "18:40"))
        assert field.ledger("bat1") == []
        assert (await read(client, "bat1.cmd_key_applied")).Value.Value == ""
        assert field.stats()["commands"]["dropped_link_down"] == 1
        await advance(field, clock, at(sc, "18:46"))
        after = await read(client, "substation.p_kw")
        assert after.SourceTimestamp >= at(sc, "18:45")
        assert field.ledger("bat1") == []  # a lost command is not replayed later
        kinds = [(f["kind"], f["edge"]) for f in field.stats()["faults"]]
        assert ("comms_loss", "start") in kinds and ("comms_loss", "end") in kinds


async def test_offline_device_is_bad_quality_trips_to_zero_and_ignores_commands() -> None:
    sc = scenario("comms-loss", comms={}, response_delay_s=0)
    async with served(sc) as (field, client, clock):
        await advance(field, clock, at(sc, "19:20"))
        await command(client, "k1", 150.0)
        await advance(field, clock, at(sc, "19:29"))
        assert (await read(client, "bat1.p_kw")).Value.Value == pytest.approx(150.0)
        await advance(field, clock, at(sc, "19:33"))
        dv = await read(client, "bat1.p_kw")
        assert dv.StatusCode.value == ua.StatusCodes.BadNoCommunication
        assert field.batteries["bat1"].p_kw == 0.0  # tripped
        await command(client, "k2", 50.0)
        await advance(field, clock, at(sc, "19:38"))
        assert [c.key for c in field.ledger("bat1")] == ["k1"]
        await advance(field, clock, at(sc, "19:45"))
        dv = await read(client, "bat1.p_kw")
        assert dv.StatusCode.is_good()


async def test_frozen_telemetry_repeats_the_value_with_fresh_timestamps() -> None:
    sc = scenario("comms-loss", comms={}, noise_pct=2.0)
    async with served(sc) as (field, client, clock):
        await advance(field, clock, at(sc, "17:01"))
        first = await read(client, "pv1.p_kw")
        await advance(field, clock, at(sc, "17:15"))
        later = await read(client, "pv1.p_kw")
        assert later.Value.Value == first.Value.Value
        assert later.SourceTimestamp > first.SourceTimestamp
        assert later.StatusCode.is_good()
        await advance(field, clock, at(sc, "17:25"))
        thawed = await read(client, "pv1.p_kw")
        assert thawed.Value.Value != first.Value.Value


async def test_latency_and_response_delay_hold_back_a_command() -> None:
    sc = scenario("evening-peak", comms={"latency_ms": 4000}, response_delay_s=30)
    async with served(sc) as (field, client, clock):
        await advance(field, clock, at(sc, "16:00"))
        await command(client, "k1", 200.0)
        await advance(field, clock, clock.now + timedelta(seconds=2), step_s=1)
        assert field.ledger("bat1") == []  # still on the wire
        await advance(field, clock, clock.now + timedelta(seconds=4), step_s=1)
        assert [c.key for c in field.ledger("bat1")] == ["k1"]
        assert field.batteries["bat1"].setpoint_kw == 0.0  # inverter not yet responding
        await advance(field, clock, clock.now + timedelta(seconds=40), step_s=5)
        assert field.batteries["bat1"].setpoint_kw == 200.0


async def test_message_loss_is_seeded_and_reproducible() -> None:
    sc = scenario("evening-peak", comms={"loss_pct": 30})
    counts = []
    for _ in range(2):
        async with served(sc) as (field, _client, clock):
            await advance(field, clock, at(sc, "16:30"))
            counts.append(field.stats()["telemetry"])
    assert counts[0] == counts[1]
    assert 0.2 < counts[0]["lost"] / counts[0]["sent"] < 0.4


async def test_line_trip_de_energizes_the_lateral_and_the_meter_follows() -> None:
    sc = scenario("line-trip", noise_pct=0.0)
    async with served(sc, network=True) as (field, client, clock):
        await advance(field, clock, at(sc, "18:19"))
        before = (await read(client, "substation.p_kw")).Value.Value
        assert field.grid is not None and field.grid.last is not None
        losses = field.grid.last.losses_kw
        assert losses > 10  # the meter carries the feeder losses
        await advance(field, clock, at(sc, "18:21"))
        during = (await read(client, "substation.p_kw")).Value.Value
        assert field.grid.dead_buses == ("n5", "n6")
        # the lateral carried 30 % of base load (~330 kW) minus the PV (~60 kW)
        assert 180 < before - during < 400
        pv = await read(client, "pv1.p_kw")
        assert pv.StatusCode.value == ua.StatusCodes.BadNoCommunication
        await advance(field, clock, at(sc, "18:41"))
        assert field.grid.dead_buses == ()
        after = (await read(client, "substation.p_kw")).Value.Value
        assert after > during + 180


def test_line_trip_without_a_network_is_refused() -> None:
    config = load_config(REPO / "configs" / "demo-feeder.yaml")
    with pytest.raises(ScenarioError, match="line_trip events need the field's network"):
        VirtualField(
            site.field_spec(config), scenario("line-trip"), Clock(datetime.now()), "opc.tcp://x"
        )


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("*.yaml")))
def test_every_shipped_scenario_loads(name: str) -> None:
    sc = load_scenario(name, SCENARIOS)
    assert sc.name == name
    assert {"base_load", "pv1", "load1"} <= set(sc.profiles)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"at": "23:00", "kind": "comms_loss", "duration_s": 60}, "outside the scenario"),
        ({"at": "18:00", "kind": "device_offline", "duration_s": 60}, "needs an element"),
        ({"at": "18:00", "kind": "meteor", "duration_s": 60}, "kind"),
        ({"at": "6pm", "kind": "comms_loss", "duration_s": 60}, "not HH:MM"),
    ],
)
def test_bad_events_are_refused(event: dict[str, object], message: str) -> None:
    base = load_scenario(str(SCENARIOS / "evening-peak.yaml")).model_dump()
    with pytest.raises(ValueError, match=message):
        Scenario.model_validate({**base, "events": [event]})


async def curtail(client: Client, asset: str, pct: float) -> None:
    await client.get_node(f"ns=2;s={asset}.curtail_pct").write_value(
        ua.DataValue(ua.Variant(pct, ua.VariantType.Double))
    )


async def test_curtail_pct_reads_the_curtailment_in_force_from_the_first_publish() -> None:
    sc = scenario("evening-peak", noise_pct=0.0)
    async with served(sc) as (field, client, clock):
        # Before any write, a real inverter reports 0 %: a good value, stamped like telemetry.
        for asset in ("pv1", "load1"):
            dv = await read(client, f"{asset}.curtail_pct")
            assert dv.StatusCode.is_good(), (asset, dv.StatusCode)
            assert dv.Value.Value == 0.0
            assert dv.SourceTimestamp == sc.start
        await advance(field, clock, at(sc, "16:00"))
        dv = await read(client, "pv1.curtail_pct")
        assert dv.StatusCode.is_good() and dv.SourceTimestamp == at(sc, "16:00")
        # A write is taken by the device and then reported as telemetry, fresh each step.
        full = (await read(client, "pv1.p_kw")).Value.Value
        await curtail(client, "pv1", 30.0)
        await advance(field, clock, clock.now + timedelta(seconds=10))
        dv = await read(client, "pv1.curtail_pct")
        assert (dv.Value.Value, dv.SourceTimestamp) == (30.0, clock.now)
        # 16:00 -> 16:00:10 moves the profile by a fraction of a kW
        assert (await read(client, "pv1.p_kw")).Value.Value == pytest.approx(0.7 * full, rel=1e-3)
        await advance(field, clock, clock.now + timedelta(minutes=5))
        assert (await read(client, "pv1.curtail_pct")).Value.Value == 30.0  # not undone


async def test_a_curtail_write_is_not_lost_to_telemetry_still_on_the_wire() -> None:
    # 4 s latency: the batch that reaches the node right after the write was measured
    # before it (0 %); the write must still reach the device, and the node ends at 30.
    sc = scenario("evening-peak", comms={"latency_ms": 4000}, noise_pct=0.0)
    async with served(sc) as (field, client, clock):
        await advance(field, clock, at(sc, "16:00"), step_s=1)
        assert (await read(client, "load1.curtail_pct")).Value.Value == 0.0
        await curtail(client, "load1", 30.0)
        await advance(field, clock, clock.now + timedelta(seconds=1), step_s=1)
        await advance(field, clock, clock.now + timedelta(seconds=10), step_s=1)
        assert (await read(client, "load1.curtail_pct")).Value.Value == 30.0
        assert field._curtail_pct["load1"] == 30.0


async def test_curtail_pct_of_an_offline_device_is_bad_and_a_write_then_is_not_applied() -> None:
    sc = scenario(
        "evening-peak",
        events=[{"at": "16:00", "kind": "device_offline", "element": "load1", "duration_s": 600}],
    )
    async with served(sc) as (field, client, clock):
        await advance(field, clock, at(sc, "16:05"))
        dv = await read(client, "load1.curtail_pct")
        assert dv.StatusCode.value == ua.StatusCodes.BadNoCommunication
        await curtail(client, "load1", 30.0)
        await advance(field, clock, at(sc, "16:15"))
        dv = await read(client, "load1.curtail_pct")
        assert dv.StatusCode.is_good() and dv.Value.Value == 0.0  # the write never took
        assert field._curtail_pct["load1"] == 0.0


def with_voltage_points() -> SiteConfig:
    """The demo feeder with measured bus voltages: the substation meter on the 11 kV
    busbar, the PV inverter at its terminals (n6), and a voltage-only meter at n4."""
    raw = yaml.safe_load((REPO / "configs" / "demo-feeder.yaml").read_text(encoding="utf-8"))
    raw["feeder"]["network"] = str(REPO / "configs" / "networks" / "demo-feeder.yaml")
    assets = {a["id"]: a for a in raw["assets"]}
    assets["substation"]["points"]["v_pu"] = {"source": "field", "node": "ns=2;s=substation.v_pu"}
    assets["pv1"]["points"]["v_pu"] = {"source": "field", "node": "ns=2;s=pv1.v_pu", "unit": "pu"}
    raw["assets"].append(
        {
            "id": "n4_meter",
            "type": "meter",
            "points": {
                "p_kw": {"source": "field", "node": "ns=2;s=n4_meter.p_kw"},
                "v_pu": {"source": "field", "node": "ns=2;s=n4_meter.v_pu"},
            },
        }
    )
    raw["safety"]["buses"] += [
        {"id": "busbar", "network_bus": "sub", "point": "substation.v_pu"},
        {"id": "pv_end", "network_bus": "n6", "point": "pv1.v_pu"},
        {"id": "n4", "point": "n4_meter.v_pu"},  # network_bus defaults to the bus id
    ]
    return parse_config(yaml.safe_dump(raw), "demo-feeder.yaml (voltage points)")


async def test_bus_voltage_points_read_the_field_power_flow() -> None:
    sc = scenario("line-trip", noise_pct=0.0)
    config = with_voltage_points()
    spec = site.field_spec(config)
    assert [(b.node, b.bus) for b in spec.bus_voltages] == [
        ("ns=2;s=substation.v_pu", "sub"),
        ("ns=2;s=pv1.v_pu", "n6"),
        ("ns=2;s=n4_meter.v_pu", "n4"),
    ]
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/gridaios/field"
    clock = Clock(sc.start)
    net = load_network(REPO / "configs" / "networks" / "demo-feeder.yaml")
    field = VirtualField(spec, sc, clock, endpoint, network=net)
    await field.start()
    client = Client(endpoint)
    await client.connect()
    try:
        await advance(field, clock, at(sc, "18:19"))
        assert field.grid is not None and field.grid.last is not None
        solved = field.grid.last.bus_vm_pu
        for point, bus in (("substation.v_pu", "sub"), ("pv1.v_pu", "n6"), ("n4_meter.v_pu", "n4")):
            dv = await read(client, point)
            assert dv.StatusCode.is_good() and dv.SourceTimestamp == at(sc, "18:19")
            assert dv.Value.Value == pytest.approx(solved[bus], abs=1e-12), point
        assert 0.9 < solved["n4"] < solved["sub"] < 1.05  # the evening load pulls the end down
        # The lateral to n5/n6 trips: the inverter is dark (bad), the rest re-solved.
        await advance(field, clock, at(sc, "18:21"))
        assert field.grid.dead_buses == ("n5", "n6")
        pv = await read(client, "pv1.v_pu")
        assert pv.StatusCode.value == ua.StatusCodes.BadNoCommunication
        n4 = await read(client, "n4_meter.v_pu")
        assert n4.StatusCode.is_good()
        assert n4.Value.Value == pytest.approx(field.grid.last.bus_vm_pu["n4"], abs=1e-12)
    finally:
        await client.disconnect()
        await field.stop()


async def test_bus_voltage_points_without_a_network_wait_and_say_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sc = scenario("evening-peak")
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/gridaios/field"
    clock = Clock(sc.start)
    field = VirtualField(site.field_spec(with_voltage_points()), sc, clock, endpoint)
    assert "pv1.v_pu" in caplog.text and "--network" in caplog.text
    await field.start()
    client = Client(endpoint)
    await client.connect()
    try:
        await advance(field, clock, at(sc, "16:00"))
        dv = await read(client, "pv1.v_pu")
        assert dv.StatusCode.value == ua.StatusCodes.BadWaitingForInitialData
    finally:
        await client.disconnect()
        await field.stop()


def test_a_voltage_point_on_a_bus_the_network_lacks_is_refused() -> None:
    config = with_voltage_points()
    spec = site.field_spec(config)
    spec.bus_voltages[2].bus = "n44"
    net = load_network(REPO / "configs" / "networks" / "demo-feeder.yaml")
    with pytest.raises(NetworkError, match=r"n4_meter.v_pu measures bus 'n44'"):
        VirtualField(spec, scenario("evening-peak"), Clock(datetime.now()), "x", network=net)

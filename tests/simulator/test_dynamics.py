"""SimPy processes on their own clock: links, fault schedules, battery dynamics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.devices import Battery, BatterySpec
from simulator.dynamics import CommsLink, FaultSchedule
from simulator.scenario import CommsSpec, EventKind, Scenario

T0 = datetime(2026, 7, 15, 15, 30, tzinfo=UTC)


def link(
    env: simpy.Environment, spec: CommsSpec, down: list[bool], seed: int = 1
) -> CommsLink[int]:
    return CommsLink(env, spec, is_down=lambda: down[0], seed=seed, name="t")


def test_latency_and_jitter_delay_each_message_within_bounds() -> None:
    env = simpy.Environment()
    ln = link(env, CommsSpec(latency_ms=500, jitter_ms=200), [False])
    for i in range(50):
        if i:
            env.run(until=i)
        ln.send(i)
    env.run(until=60)
    got = ln.receive()
    assert [d.item for d in got] == list(range(50))
    delays = [d.delivered_at_s - d.sent_at_s for d in got]
    assert all(0.3 - 1e-9 <= x <= 0.7 + 1e-9 for x in delays)
    assert len({round(x, 6) for x in delays}) > 10  # jitter really varies


def test_outage_drops_messages_sent_and_in_flight() -> None:
    env = simpy.Environment()
    down = [False]
    ln = link(env, CommsSpec(latency_ms=1000), down)
    ln.send(1)  # in flight when the link drops
    env.run(until=0.5)
    down[0] = True
    ln.send(2)  # sent while down
    env.run(until=2)
    down[0] = False
    ln.send(3)
    env.run(until=4)
    assert [d.item for d in ln.receive()] == [3]
    assert ln.counts["dropped_link_down"] == 2


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), loss=st.floats(5, 95))
def test_loss_is_seeded(seed: int, loss: float) -> None:
    def run() -> list[int]:
        env = simpy.Environment()
        ln = link(env, CommsSpec(loss_pct=loss), [False], seed=seed)
        for i in range(200):
            ln.send(i)
        return [d.item for d in ln.receive()]

    first, second = run(), run()
    assert first == second
    assert 0 < len(first) < 200


def test_fault_schedule_switches_on_and_off_at_scenario_times() -> None:
    base = Scenario.model_validate(
        {
            "name": "f",
            "start": T0,
            "duration_s": 7200,
            "profiles": {"base_load": [["15:30", 100]]},
            "events": [
                {"at": "16:00", "kind": "device_offline", "element": "bat1", "duration_s": 600},
                {"at": "16:05", "kind": "comms_loss", "duration_s": 60},
            ],
        }
    )
    env = simpy.Environment()
    faults = FaultSchedule(env, base)
    seen: list[tuple[float, str, bool]] = []
    faults.on_change(lambda e, on: seen.append((env.now, e.kind.value, on)))
    env.run(until=1799)
    assert not faults.active(EventKind.DEVICE_OFFLINE, "bat1")
    env.run(until=1801)
    assert faults.active(EventKind.DEVICE_OFFLINE, "bat1")
    assert not faults.active(EventKind.DEVICE_OFFLINE, "pv1")
    env.run(until=2400 + 1)
    assert not faults.active(EventKind.DEVICE_OFFLINE, "bat1")
    assert seen == [
        (1800, "device_offline", True),
        (2100, "comms_loss", True),
        (2160, "comms_loss", False),
        (2400, "device_offline", False),
    ]


def battery(env: simpy.Environment, **kw: float) -> Battery:
    spec = BatterySpec(
        id="b",
        capacity_kwh=100,
        max_charge_kw=50,
        max_discharge_kw=50,
        efficiency=1.0,
        initial_soc_pct=50,
        ramp_kw_per_s=5,
    )
    return Battery(env, spec, 1.0, **kw)


def test_battery_ramps_waits_for_its_response_delay_and_integrates_soc() -> None:
    env = simpy.Environment()
    b = battery(env, response_delay_s=3)
    assert b.offer_command("k", 40.0, T0)
    env.run(until=3)
    assert b.p_kw == 0.0  # still inside the response delay
    env.run(until=5)
    assert 0 < b.p_kw <= 10.0  # ramping at 5 kW/s
    env.run(until=20)
    assert b.p_kw == pytest.approx(40.0)
    env.run(until=20 + 3600)
    # an hour at 40 kW takes 40 of the 50 kWh left
    assert b.soc_pct == pytest.approx(10.0, abs=0.2)
    env.run(until=20 + 5400)
    assert b.soc_pct == 0.0  # empty: it stops rather than going below zero
    assert b.p_kw == 0.0


def test_battery_offline_trips_and_refuses_then_accepts_after() -> None:
    env = simpy.Environment()
    b = battery(env)
    b.offer_command("k1", 30.0, T0)
    env.run(until=10)
    b.online = False
    env.run(until=11)
    assert b.p_kw == 0.0
    assert not b.offer_command("k2", 10.0, T0 + timedelta(seconds=11))
    assert not b.has_seen("k2")  # lost, not remembered: a resend after recovery applies
    b.online = True
    assert b.offer_command("k2", 10.0, T0 + timedelta(seconds=12))
    assert not b.offer_command("k2", 10.0, T0 + timedelta(seconds=13))  # duplicate

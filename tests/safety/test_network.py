"""Feeder thermal rating and bus voltage band over the whole plan, evaluated jointly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from safety import Bus, Clamped, Forecast, Range, evaluate
from tests.safety.harness import (
    KVAR,
    KW,
    PCT,
    T0,
    Step,
    battery,
    cmd,
    expect,
    ids,
    load,
    pv,
    run_steps,
    site,
    snapshot,
)

TWO = site(battery("bat1"), battery("bat2"), rating_kw=1000.0)


def test_two_batteries_on_one_feeder_interact() -> None:
    # 600 kW import now; each battery charging 250 kW alone fits (850), both do not (1100).
    alone = evaluate([cmd("a", "bat1", value=-250.0)], snapshot(), TWO, T0)
    assert alone[0].outcome == "accepted"
    both = evaluate(
        [cmd("a", "bat1", value=-250.0), cmd("b", "bat2", value=-250.0)], snapshot(), TWO, T0
    )
    assert [v.outcome for v in both] == ["accepted", "rejected"]
    assert ids(both[1]) == {"thermal.f1"}
    assert both[1].hits[0].observed == pytest.approx(1100.0)
    assert both[1].hits[0].limit == 1000.0


def test_the_later_charge_is_clamped_to_the_headroom_left() -> None:
    env = site(battery("bat1"), battery("bat2"), rating_kw=1000.0, policies={"thermal": "clamp"})
    both = evaluate(
        [cmd("a", "bat1", value=-250.0), cmd("b", "bat2", value=-250.0)], snapshot(), env, T0
    )
    assert [v.outcome for v in both] == ["accepted", "clamped"]
    assert isinstance(both[1], Clamped)
    assert both[1].value == pytest.approx(-150.0)


def test_commands_that_do_not_overlap_in_time_do_not_interact() -> None:
    plan = [
        cmd("a", "bat1", value=-250.0),
        cmd("b", "bat2", value=-250.0, start=T0 + timedelta(minutes=15)),
    ]
    assert [v.outcome for v in evaluate(plan, snapshot(), TWO, T0)] == ["accepted", "accepted"]


def test_discharge_relieving_an_overload_is_never_refused_for_it() -> None:
    state = snapshot({"meter.p_kw": 1200.0})  # already over the 1000 kW rating
    (verdict,) = evaluate([cmd("a", "bat1", value=100.0)], state, TWO, T0)
    assert verdict.outcome == "accepted"  # still 1100, but better than without
    (worse,) = evaluate([cmd("b", "bat1", value=-10.0)], state, TWO, T0)
    assert worse.outcome == "rejected"


def test_forecast_checks_every_step_of_the_plan() -> None:
    # Uncontrolled load rises to 950 kW in the second 15 minutes.
    forecast = Forecast(
        start=T0, step=timedelta(minutes=15), feeder_net_kw={"f1": (600.0, 950.0, 700.0)}
    )
    charge = cmd("a", "bat1", value=-100.0, minutes=45)
    (verdict,) = evaluate([charge], snapshot(), TWO, T0, forecast=forecast)
    assert verdict.outcome == "rejected"
    assert "17:15" in verdict.hits[0].reason
    (short,) = evaluate([cmd("a", "bat1", value=-100.0)], snapshot(), TWO, T0, forecast=forecast)
    assert short.outcome == "accepted"


def test_reverse_flow_counts_against_the_rating_too() -> None:
    state = snapshot({"meter.p_kw": -900.0})  # exporting 900 kW
    (verdict,) = evaluate([cmd("a", "bat1", value=200.0)], state, TWO, T0)
    assert verdict.outcome == "rejected"
    assert verdict.hits[0].observed == pytest.approx(-1100.0)


def test_curtailing_pv_raises_import_curtailing_load_lowers_it() -> None:
    env = site(pv(), load(), rating_kw=700.0)
    # PV makes 200 kW: curtailing 100 % adds 200 kW import (600 -> 800 > 700)
    (pv_v,) = evaluate([cmd("a", "pv1", PCT, 100.0)], snapshot(), env, T0)
    assert pv_v.outcome == "rejected" and ids(pv_v) == {"thermal.f1"}
    (pv_ok,) = evaluate([cmd("a", "pv1", PCT, 50.0)], snapshot(), env, T0)
    assert pv_ok.outcome == "accepted"
    (load_v,) = evaluate([cmd("b", "load1", PCT, 40.0)], snapshot({"meter.p_kw": 800.0}), env, T0)
    assert load_v.outcome == "accepted"


BUS = Bus(id="b1", point="bus1.v_pu")


def _volt_site(**policies: str) -> object:
    bat = battery(
        "bat1",
        voltage_pu_per_kw={"b1": 0.0002},
        voltage_pu_per_kvar={"b1": 0.0004},
        ranges={
            KW: Range(min_value=-250.0, max_value=250.0),
            KVAR: Range(min_value=-100.0, max_value=100.0),
        },
    )
    return site(bat, buses=[BUS], policies=policies)


def test_voltage_band_via_linear_sensitivities() -> None:
    env = _volt_site()
    state = snapshot({"bus1.v_pu": 1.02})
    # +150 kW * 0.0002 = +0.03 pu: 1.05, at the ANSI C84.1 Range A edge
    (ok,) = evaluate([cmd("a", value=150.0)], state, env, T0)  # type: ignore[arg-type]
    assert ok.outcome == "accepted"
    (high,) = evaluate([cmd("a", value=200.0)], state, env, T0)  # type: ignore[arg-type]
    assert high.outcome == "rejected" and ids(high) == {"voltage.b1"}
    assert high.hits[0].observed == pytest.approx(1.06)


def test_voltage_clamp_and_reactive_power() -> None:
    env = _volt_site(voltage="clamp")
    state = snapshot({"bus1.v_pu": 0.96})
    (verdict,) = evaluate(
        [cmd("q", kind=KVAR, value=-100.0)],
        state,
        env,
        T0,  # type: ignore[arg-type]
    )
    assert isinstance(verdict, Clamped)
    assert verdict.value == pytest.approx(-25.0)  # 0.96 - 25 * 0.0004 = 0.95


def test_assumed_bus_voltage_and_step_by_step() -> None:
    bat = battery("bat1", voltage_pu_per_kw={"b2": 0.0002})
    env = site(bat, buses=[Bus(id="b2", assumed_pu=1.0)], policies={"voltage": "clamp"})
    run_steps(
        env,
        [
            Step(commands=[("s1", "bat1", KW, 250.0, 15)], expect=[expect("accepted", 250.0)]),
            Step(
                after=timedelta(minutes=15),
                commands=[("s2", "bat1", KW, -250.0, 15)],
                expect=[expect("accepted", -250.0)],
            ),
        ],
    )
    assert env.buses["b2"].min_pu == 0.95 and env.buses["b2"].max_pu == 1.05


def test_thermal_headroom_step_by_step_as_the_evening_load_rises() -> None:
    env = site(battery("bat1"), rating_kw=1000.0, policies={"thermal": "clamp"})
    run_steps(
        env,
        [
            # 600 kW import: charging 250 kW fits
            Step(commands=[("c1", "bat1", KW, -250.0, 15)], expect=[expect("accepted", -250.0)]),
            # the meter now shows 900 kW including that charge: uncontrolled 650 kW
            Step(
                after=timedelta(minutes=15),
                readings={"meter.p_kw": 900.0, "bat1.p_kw": -250.0},
                commands=[("c2", "bat1", KW, -250.0, 15)],
                expect=[expect("accepted", -250.0)],
            ),
            # 1,050 kW with the battery still charging 250: only 200 kW of charge fits
            Step(
                after=timedelta(minutes=15),
                readings={"meter.p_kw": 1050.0, "bat1.p_kw": -250.0},
                commands=[("c3", "bat1", KW, -250.0, 15)],
                expect=[expect("clamped", -200.0, "thermal.f1")],
            ),
            # overloaded at 1,150 kW: discharging is always allowed, it relieves the feeder
            Step(
                after=timedelta(minutes=15),
                readings={"meter.p_kw": 1150.0, "bat1.p_kw": 0.0},
                commands=[("d1", "bat1", KW, 150.0, 15)],
                expect=[expect("accepted", 150.0)],
            ),
        ],
    )


def test_bus_voltage_forecast_is_checked_per_step() -> None:
    bat = battery("bat1", voltage_pu_per_kw={"b1": 0.0002})
    env = site(bat, buses=[BUS])
    forecast = Forecast(
        start=T0, step=timedelta(minutes=15), bus_voltage_pu={"b1": (1.00, 1.03, 1.00)}
    )
    # +100 kW is +0.02 pu: fine at 1.00, 1.05 at the edge in the second step
    (ok,) = evaluate([cmd("a", value=100.0, minutes=45)], snapshot(), env, T0, forecast=forecast)
    assert ok.outcome == "accepted"
    (high,) = evaluate([cmd("a", value=150.0, minutes=45)], snapshot(), env, T0, forecast=forecast)
    assert high.outcome == "rejected" and ids(high) == {"voltage.b1"}
    assert "17:15" in high.hits[0].reason
    assert high.hits[0].observed == pytest.approx(1.06)


def test_a_command_already_running_is_checked_from_now_on() -> None:
    started = cmd("a", "bat1", value=-250.0, start=T0 - timedelta(minutes=10), minutes=20)
    state = snapshot({"meter.p_kw": 800.0})
    (verdict,) = evaluate([started], state, TWO, T0)
    assert verdict.outcome == "rejected"  # 800 + 250 > 1000 for the 10 minutes left
    assert ids(verdict) == {"thermal.f1"}

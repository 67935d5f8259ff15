"""Energy-aware SoC window, projected over each command and across a plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from safety import Clamped, evaluate
from tests.safety.harness import KW, T0, Step, battery, cmd, expect, ids, run_steps, site, snapshot


@pytest.mark.parametrize(
    ("soc", "value", "minutes", "outcome"),
    [
        (50.0, 250.0, 60, "rejected"),  # 250 kWh of 500: 50 -> 0 %, below 10 %
        (50.0, 200.0, 60, "accepted"),  # 50 - 40 = 10 %: exactly at the floor
        (50.0, 201.0, 60, "rejected"),
        (80.0, -50.0, 60, "accepted"),  # 80 + 10 = 90 %: exactly at the ceiling
        (80.0, -60.0, 60, "rejected"),
        (12.0, 250.0, 1, "accepted"),  # 250 kW for 1 min is 4.2 kWh: 0.8 %
        (11.0, 250.0, 5, "rejected"),
    ],
)
def test_window_over_the_command_duration(
    soc: float, value: float, minutes: float, outcome: str
) -> None:
    state = snapshot({"bat1.soc_pct": soc})
    (verdict,) = evaluate([cmd("a", value=value, minutes=minutes)], state, site(), T0)
    assert verdict.outcome == outcome, verdict.hits


def test_efficiency_makes_discharge_cost_more_than_it_delivers() -> None:
    lossy = site(battery("bat1", battery=replace(battery("bat1").battery, efficiency=0.8)))
    # 160 kW for 1 h delivers 160 kWh but draws 200 kWh = 40 %: 50 -> 10 %
    ok, over = (
        evaluate([cmd("a", value=v, minutes=60)], snapshot(), lossy, T0)[0] for v in (160.0, 161.0)
    )
    assert ok.outcome == "accepted" and over.outcome == "rejected"


def test_clamp_to_the_energy_left() -> None:
    env = site(policies={"soc.window": "clamp"})
    (verdict,) = evaluate([cmd("a", value=250.0, minutes=60)], snapshot(), env, T0)
    assert isinstance(verdict, Clamped)
    assert verdict.value == pytest.approx(200.0)
    assert verdict.hits[0].observed == pytest.approx(0.0)  # where 250 kW would have ended


def test_a_plan_of_discharges_is_projected_jointly() -> None:
    plan = [cmd(f"h{i}", value=100.0, start=T0 + timedelta(hours=i), minutes=60) for i in range(3)]
    # 50 % -> 30 % -> 10 % -> would be -10 %
    verdicts = evaluate(plan, snapshot(), site(), T0)
    assert [v.outcome for v in verdicts] == ["accepted", "accepted", "rejected"]
    assert ids(verdicts[2]) == {"soc.window"}


def test_drift_before_a_future_command_at_the_present_output() -> None:
    state = snapshot({"bat1.p_kw": 100.0})  # discharging 100 kW now
    later = cmd("a", value=100.0, start=T0 + timedelta(hours=2), minutes=60)
    # 2 h of drift at 100 kW: 50 -> 10 %, nothing left for another hour
    (verdict,) = evaluate([later], state, site(), T0)
    assert verdict.outcome == "rejected"


def test_step_by_step_as_the_battery_drains() -> None:
    run_steps(
        site(policies={"soc.window": "clamp"}),
        [
            Step(commands=[("s1", "bat1", KW, 200.0, 30)], expect=[expect("accepted", 200.0)]),
            Step(
                after=timedelta(minutes=30),
                readings={"bat1.soc_pct": 30.0, "bat1.p_kw": 200.0},
                commands=[("s2", "bat1", KW, 250.0, 30)],
                expect=[expect("clamped", 200.0, "soc.window")],
            ),
            Step(
                after=timedelta(minutes=30),
                readings={"bat1.soc_pct": 10.0, "bat1.p_kw": 200.0},
                commands=[("s3", "bat1", KW, 50.0, 30)],
                expect=[expect("clamped", 0.0, "soc.window")],
            ),
            Step(
                after=timedelta(minutes=1),
                readings={"bat1.soc_pct": 8.0, "bat1.p_kw": 0.0},
                commands=[("s4", "bat1", KW, -100.0, 30)],  # charging back is always fine
                expect=[expect("accepted", -100.0)],
            ),
        ],
    )

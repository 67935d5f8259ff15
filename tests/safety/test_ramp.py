"""Ramp rate against the last commanded or measured value, step by step."""

from __future__ import annotations

from datetime import timedelta

from safety import Ramp, evaluate
from tests.safety.harness import KW, PCT, T0, Step, battery, cmd, expect, ids, pv, run_steps, site
from tests.safety.harness import snapshot as snap

RAMPED = battery("bat1", ramps={KW: Ramp(per_min=50.0, interval=timedelta(minutes=2))})


def test_steps_follow_measured_then_commanded_values() -> None:
    env = site(RAMPED, policies={"ramp": "clamp"})
    run_steps(
        env,
        [
            # measured 0 kW: 50 kW/min over 2 min allows 100 kW
            Step(commands=[("s1", "bat1", KW, 100.0, 5)], expect=[expect("accepted", 100.0)]),
            # the last dispatch (100) is the reference now, not the measured 0
            Step(
                after=timedelta(minutes=5),
                commands=[("s2", "bat1", KW, 250.0, 5)],
                expect=[expect("clamped", 200.0, "ramp")],
            ),
            Step(
                after=timedelta(minutes=5),
                readings={"bat1.p_kw": 200.0},
                commands=[("s3", "bat1", KW, -50.0, 5)],
                expect=[expect("clamped", 100.0, "ramp")],
            ),
        ],
    )


def test_reject_is_the_default_policy() -> None:
    (verdict,) = evaluate([cmd("a", value=150.0)], snap(), site(RAMPED), T0)
    assert verdict.outcome == "rejected"
    assert ids(verdict) == {"ramp"}
    assert verdict.hits[0].reason == (
        "bat1 step 0 -> 150 kW is 150 kW; ramp 50 kW/min over 2 min allows 100 kW "
        "from the measured bat1.p_kw"
    )


def test_consecutive_commands_in_one_plan_ramp_from_each_other() -> None:
    plan = [
        cmd("a", value=100.0),
        cmd("b", value=200.0, start=T0 + timedelta(minutes=15)),
        cmd("c", value=250.0, start=T0 + timedelta(minutes=30)),
    ]
    verdicts = evaluate(plan, snap(), site(RAMPED), T0)
    assert [v.outcome for v in verdicts] == ["accepted", "accepted", "accepted"]
    jump = [cmd("a", value=100.0), cmd("b", value=-100.0, start=T0 + timedelta(minutes=15))]
    assert [v.outcome for v in evaluate(jump, snap(), site(RAMPED), T0)] == [
        "accepted",
        "rejected",
    ]


def test_curtailment_ramp_needs_a_reference() -> None:
    env = site(pv(ramps={PCT: Ramp(per_min=10.0)}))
    state = snap()
    readings = {p: r for p, r in state.readings.items() if p != "pv1.curtail_pct"}
    from safety import StateSnapshot

    (verdict,) = evaluate(
        [cmd("a", asset="pv1", kind=PCT, value=5.0)], StateSnapshot(readings=readings), env, T0
    )
    assert verdict.outcome == "rejected"
    assert "ramp" in ids(verdict)
    (ok,) = evaluate([cmd("a", asset="pv1", kind=PCT, value=5.0)], snap(), env, T0)
    assert ok.outcome == "accepted"

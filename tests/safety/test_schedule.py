"""Rate limits, time windows and minimum on/off times, step by step with a fake clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest

from safety import Dispatch, RateLimit, SwitchTiming, TimeWindow, evaluate
from tests.safety.harness import (
    KW,
    PCT,
    SWITCH,
    T0,
    Step,
    battery,
    cmd,
    expect,
    ids,
    load,
    run_steps,
    site,
    snapshot,
)


def test_rate_limit_counts_history_and_the_plan() -> None:
    env = site(battery("bat1", rate_limit=RateLimit(max_commands=2, window=timedelta(minutes=10))))
    run_steps(
        env,
        [
            Step(commands=[("s1", "bat1", KW, 10.0, 1)], expect=[expect("accepted", 10.0)]),
            Step(
                after=timedelta(minutes=4),
                commands=[("s2", "bat1", KW, 20.0, 1)],
                expect=[expect("accepted", 20.0)],
            ),
            Step(
                after=timedelta(minutes=4),
                commands=[("s3", "bat1", KW, 30.0, 1)],
                expect=[expect("rejected", None, "rate_limit")],
            ),
            Step(  # s1 has left the 10-minute window
                after=timedelta(minutes=3),
                commands=[("s4", "bat1", KW, 30.0, 1)],
                expect=[expect("accepted", 30.0)],
            ),
        ],
    )


def test_rate_limit_within_one_plan() -> None:
    env = site(battery("bat1", rate_limit=RateLimit(max_commands=2, window=timedelta(hours=1))))
    plan = [cmd(f"c{i}", value=10.0, start=T0 + timedelta(minutes=15 * i)) for i in range(3)]
    verdicts = evaluate(plan, snapshot(), env, T0)
    assert [v.outcome for v in verdicts] == ["accepted", "accepted", "rejected"]
    assert verdicts[2].hits[0].observed == 3.0


NIGHT = TimeWindow(
    id="defrost",
    kinds=frozenset({PCT}),
    start=time(22, 0),
    end=time(2, 0),
    reason="defrost cycle",
)


@pytest.mark.parametrize(
    ("hour", "minutes", "outcome"),
    [
        (17, 60, "accepted"),
        (21, 60, "accepted"),  # ends exactly at 22:00
        (21, 61, "rejected"),
        (23, 15, "rejected"),
        (1, 30, "rejected"),  # the window that started the evening before
        (2, 30, "accepted"),
    ],
)
def test_forbidden_window_across_midnight(hour: int, minutes: float, outcome: str) -> None:
    env = site(load(time_windows=(NIGHT,)))
    start = T0.replace(hour=hour)
    command = cmd("a", "load1", PCT, 10.0, start=start, minutes=minutes)
    (verdict,) = evaluate([command], snapshot(at=start), env, start)
    assert verdict.outcome == outcome, verdict.hits
    if outcome == "rejected":
        assert ids(verdict) == {"time_window.defrost"}
        assert "defrost cycle" in verdict.hits[0].reason


def test_windows_are_in_site_local_time() -> None:
    paris = ZoneInfo("Europe/Paris")  # UTC+2 in July
    env = replace(site(load(time_windows=(NIGHT,))), timezone=paris)
    start = T0.replace(hour=20, minute=30)  # 22:30 in Paris
    (verdict,) = evaluate(
        [cmd("a", "load1", PCT, 5.0, start=start)], snapshot(at=start), env, start
    )
    assert verdict.outcome == "rejected"


def test_allow_window_on_weekdays_only() -> None:
    office = TimeWindow(
        id="office-hours",
        kinds=frozenset({PCT}),
        start=time(8, 0),
        end=time(18, 0),
        forbid=False,
        days=frozenset({1, 2, 3, 4, 5}),
    )
    env = site(load(time_windows=(office,)))
    wednesday = T0.replace(hour=9)  # 2026-07-15 is a Wednesday
    saturday = wednesday + timedelta(days=3)
    for start, outcome in ((wednesday, "accepted"), (saturday, "rejected")):
        (v,) = evaluate([cmd("a", "load1", PCT, 5.0, start=start)], snapshot(at=start), env, start)
        assert v.outcome == outcome


def test_a_critical_load_is_never_curtailed() -> None:
    always = TimeWindow(
        id="critical_load",
        kinds=frozenset({PCT, SWITCH}),
        start=time(0, 0),
        end=time(0, 0),
        reason="load1 is a critical load",
    )
    env = site(load(time_windows=(always,)), policies={"limit": "clamp"})
    for hour in range(0, 24, 5):
        start = T0.replace(hour=hour)
        (v,) = evaluate([cmd("a", "load1", PCT, 1.0, start=start)], snapshot(at=start), env, start)
        assert v.outcome == "rejected" and ids(v) == {"time_window.critical_load"}


SWITCHED = load(
    switch=SwitchTiming(
        min_on=timedelta(minutes=30),
        min_off=timedelta(minutes=10),
        state_point="load1.switch_state",
    ),
    required_points=("load1.p_kw", "load1.switch_state"),
)


def test_minimum_on_and_off_times() -> None:
    run_steps(
        site(SWITCHED),
        [
            # measured on, no record of when it changed: free to switch off
            Step(commands=[("off1", "load1", SWITCH, 0.0, 5)], expect=[expect("accepted", 0.0)]),
            Step(  # off for 5 min, minimum off is 10
                after=timedelta(minutes=5),
                readings={"load1.switch_state": 0.0},
                commands=[("on1", "load1", SWITCH, 1.0, 5)],
                expect=[expect("rejected", None, "min_on_off")],
            ),
            Step(
                after=timedelta(minutes=5),
                commands=[("on2", "load1", SWITCH, 1.0, 5)],
                expect=[expect("accepted", 1.0)],
            ),
            Step(  # on for 20 min, minimum on is 30
                after=timedelta(minutes=20),
                readings={"load1.switch_state": 1.0},
                commands=[("off2", "load1", SWITCH, 0.0, 5)],
                expect=[expect("rejected", None, "min_on_off")],
            ),
            Step(  # staying on is not a change
                commands=[("on3", "load1", SWITCH, 1.0, 5)],
                expect=[expect("accepted", 1.0)],
            ),
            Step(
                after=timedelta(minutes=10),
                commands=[("off3", "load1", SWITCH, 0.0, 5)],
                expect=[expect("accepted", 0.0)],
            ),
        ],
    )


def test_switching_never_clamps() -> None:
    env = site(SWITCHED, policies={"limit": "clamp"})
    history = [Dispatch(asset="load1", kind=SWITCH, value=1.0, at=T0 - timedelta(minutes=1))]
    (v,) = evaluate([cmd("off", "load1", SWITCH, 0.0)], snapshot(), env, T0, history=history)
    assert v.outcome == "rejected"

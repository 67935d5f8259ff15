"""Fail closed: missing, stale, non-good or non-finite state rejects; so do interlocks."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pytest

from safety import Forecast, Interlock, Quality, StateSnapshot, evaluate
from tests.safety.harness import KW, T0, Step, battery, cmd, expect, ids, run_steps, site, snapshot


def test_a_device_that_stops_reporting_is_refused_after_max_age() -> None:
    frozen = frozenset({"bat1.soc_pct"})
    run_steps(
        site(),
        [
            Step(commands=[("s1", "bat1", KW, 10.0, 5)], expect=[expect("accepted", 10.0)]),
            Step(
                after=timedelta(seconds=60),
                frozen=frozen,
                commands=[("s2", "bat1", KW, 20.0, 5)],
                expect=[expect("accepted", 20.0)],  # exactly max age: still fresh
            ),
            Step(
                after=timedelta(seconds=1),
                frozen=frozen,
                commands=[("s3", "bat1", KW, 20.0, 5)],
                expect=[expect("rejected", None, "state.stale")],
            ),
            Step(  # it reports again: recovered
                after=timedelta(seconds=10),
                readings={"bat1.soc_pct": 49.0},
                commands=[("s4", "bat1", KW, 20.0, 5)],
                expect=[expect("accepted", 20.0)],
            ),
        ],
    )


@pytest.mark.parametrize("quality", [Quality.UNCERTAIN, Quality.BAD])
def test_not_good_quality_is_refused(quality: Quality) -> None:
    run_steps(
        site(),
        [
            Step(
                quality={"bat1.p_kw": quality},
                commands=[("s1", "bat1", KW, 10.0, 5)],
                expect=[expect("rejected", None, "state.quality")],
            )
        ],
    )


@pytest.mark.parametrize("point", ["bat1.p_kw", "bat1.soc_pct", "meter.p_kw"])
def test_any_missing_input_is_refused(point: str) -> None:
    env = site(battery("bat1"), battery("bat2"))
    state = snapshot()
    readings = {p: r for p, r in state.readings.items() if p != point}
    (verdict,) = evaluate([cmd("a")], StateSnapshot(readings=readings), env, T0)
    assert verdict.outcome == "rejected"
    assert ids(verdict) == {"state.missing"}
    assert point in verdict.hits[0].reason


def test_with_a_forecast_the_peer_storage_output_is_an_input_too() -> None:
    # The forecast excludes storage, so the base adds what bat2 delivers now.
    env = site(battery("bat1"), battery("bat2"))
    forecast = Forecast(start=T0, step=timedelta(minutes=15), feeder_net_kw={"f1": (600.0,)})
    state = snapshot()
    readings = {p: r for p, r in state.readings.items() if p != "bat2.p_kw"}
    (without,) = evaluate([cmd("a")], StateSnapshot(readings=readings), env, T0)
    assert without.outcome == "accepted"
    (verdict,) = evaluate([cmd("a")], StateSnapshot(readings=readings), env, T0, forecast=forecast)
    assert ids(verdict) == {"state.missing"}


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_reading_is_refused(value: float) -> None:
    (verdict,) = evaluate([cmd("a")], snapshot({"bat1.soc_pct": value}), site(), T0)
    assert ids(verdict) == {"state.value"}


def test_readings_from_the_future_are_refused() -> None:
    state = snapshot(at=T0 + timedelta(minutes=5))
    (verdict,) = evaluate([cmd("a")], state, site(), T0)
    assert "state.stale" in ids(verdict)


def test_per_point_max_age_overrides_the_default() -> None:
    env = replace(site(), point_max_age={"bat1.soc_pct": timedelta(minutes=10)})
    state = snapshot(at=T0 - timedelta(minutes=5))
    (verdict,) = evaluate([cmd("a")], state, env, T0)
    assert ids(verdict) == {"state.stale"}
    assert all("soc" not in h.reason for h in verdict.hits)  # soc_pct may be 10 min old


LOCKED = battery(
    "bat1",
    interlocks=(
        Interlock(
            id="maintenance", point="bat1.maintenance", active_when=1.0, reason="in maintenance"
        ),
        Interlock(
            id="local", point="bat1.local_mode", active_when=1.0, reason="in local/manual mode"
        ),
        Interlock(id="comms", point="bat1.comms_ok", active_when=0.0, reason="comms lost"),
    ),
)
CLEAR = {"bat1.maintenance": 0.0, "bat1.local_mode": 0.0, "bat1.comms_ok": 1.0}


def test_interlocks_step_by_step() -> None:
    run_steps(
        site(LOCKED),
        [
            Step(commands=[("s1", "bat1", KW, 10.0, 5)], expect=[expect("accepted", 10.0)]),
            Step(
                after=timedelta(seconds=5),
                readings={"bat1.maintenance": 1.0},
                commands=[("s2", "bat1", KW, 10.0, 5)],
                expect=[expect("rejected", None, "interlock.maintenance")],
            ),
            Step(
                after=timedelta(seconds=5),
                readings={"bat1.maintenance": 0.0, "bat1.local_mode": 1.0, "bat1.comms_ok": 0.0},
                commands=[("s3", "bat1", KW, 10.0, 5)],
                expect=[expect("rejected", None, "interlock.local", "interlock.comms")],
            ),
            Step(
                after=timedelta(seconds=5),
                readings={"bat1.local_mode": 0.0, "bat1.comms_ok": 1.0},
                commands=[("s4", "bat1", KW, 10.0, 5)],
                expect=[expect("accepted", 10.0)],
            ),
        ],
        initial=CLEAR,
    )


def test_an_interlock_point_going_quiet_fails_closed() -> None:
    state = snapshot(CLEAR)
    readings = {p: r for p, r in state.readings.items() if p != "bat1.comms_ok"}
    (verdict,) = evaluate([cmd("a")], StateSnapshot(readings=readings), site(LOCKED), T0)
    assert ids(verdict) == {"state.missing"}


def test_interlocks_reject_even_when_policies_say_clamp() -> None:
    env = site(LOCKED, policies={"limit": "clamp", "ramp": "clamp"})
    (verdict,) = evaluate(
        [cmd("a", value=900.0)], snapshot({**CLEAR, "bat1.maintenance": 1.0}), env, T0
    )
    assert verdict.outcome == "rejected"
    assert "interlock.maintenance" in ids(verdict)

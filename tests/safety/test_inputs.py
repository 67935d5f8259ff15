"""Bad input is rejected with a reason; no exception escapes the gate."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from safety import Command, Reading, StateSnapshot, evaluate
from tests.safety.harness import SWITCH, T0, cmd, ids, load, site, snapshot


def _bad(**changes: Any) -> Command:
    return replace(cmd("bad"), **changes)


@pytest.mark.parametrize(
    ("command", "fired"),
    [
        (_bad(value=math.nan), {"input.value"}),
        (_bad(value=math.inf), {"input.value"}),
        (_bad(value=-math.inf), {"input.value"}),
        (_bad(value="100"), {"input.value"}),
        (_bad(end=T0), {"input.time"}),
        (_bad(end=T0 - timedelta(minutes=1)), {"input.time"}),
        (_bad(start=datetime(2026, 7, 15, 17, 0)), {"input.time"}),
        (_bad(start=T0 - timedelta(hours=2), end=T0 - timedelta(hours=1)), {"input.expired"}),
        (_bad(end=T0 + timedelta(days=2)), {"input.duration"}),
        (_bad(asset="bat9"), {"asset.unknown"}),
        (_bad(unit="MW"), {"input.unit"}),
        (_bad(unit="W"), {"input.unit"}),
        (_bad(kind="active_power_mw"), {"input.kind"}),
        (_bad(origin="someone"), {"input.origin"}),
        (_bad(key=""), {"input.key"}),
        (_bad(asset="load1", kind=SWITCH, value=0.5), {"input.value"}),
    ],
)
def test_malformed_command_is_rejected_with_a_reason(command: Command, fired: set[str]) -> None:
    env = site(site().assets["bat1"], load())
    (verdict,) = evaluate([command], snapshot(), env, T0)
    assert verdict.outcome == "rejected"
    assert ids(verdict) == fired
    assert all(h.reason for h in verdict.hits)


def test_matching_unit_is_fine() -> None:
    (verdict,) = evaluate([cmd("ok", unit="kW")], snapshot(), site(), T0)
    assert verdict.outcome == "accepted"


def test_duplicate_keys_reject_every_copy_and_leave_others_alone() -> None:
    plan = [
        cmd("dup", value=10.0),
        cmd("dup", value=20.0, start=T0 + timedelta(minutes=30)),
        cmd("solo", value=30.0, start=T0 + timedelta(hours=1)),
    ]
    verdicts = evaluate(plan, snapshot(), site(), T0)
    assert [v.outcome for v in verdicts] == ["rejected", "rejected", "accepted"]
    assert ids(verdicts[0]) == ids(verdicts[1]) == {"input.duplicate_key"}


def test_overlapping_commands_for_one_asset_and_kind() -> None:
    plan = [cmd("a", value=10.0), cmd("b", value=20.0, start=T0 + timedelta(minutes=5))]
    verdicts = evaluate(plan, snapshot(), site(), T0)
    assert [v.outcome for v in verdicts] == ["accepted", "rejected"]
    assert ids(verdicts[1]) == {"plan.overlap"}


def test_naive_now_rejects_everything() -> None:
    (verdict,) = evaluate([cmd("a")], snapshot(), site(), datetime(2026, 7, 15, 17, 0))
    assert ids(verdict) == {"input.now"}


def test_a_broken_state_object_fails_closed_without_raising() -> None:
    state = StateSnapshot(readings={"bat1.p_kw": "garbage"})  # type: ignore[dict-item]
    (verdict,) = evaluate([cmd("a")], state, site(), T0)
    assert verdict.outcome == "rejected"


def test_non_command_objects_are_rejected_alone() -> None:
    plan = ["not a command", cmd("good"), None]
    verdicts = evaluate(plan, snapshot(), site(), T0)  # type: ignore[arg-type]
    assert [v.outcome for v in verdicts] == ["rejected", "accepted", "rejected"]
    assert ids(verdicts[0]) == {"input.type"}


def test_reading_with_unit_mismatch_is_rejected() -> None:
    env = replace(site(), point_units={"bat1.p_kw": "kW"})
    state = snapshot()
    readings = dict(state.readings)
    readings["bat1.p_kw"] = Reading(
        point="bat1.p_kw", value=0.0, ts=T0, quality=readings["bat1.p_kw"].quality, unit="W"
    )
    (verdict,) = evaluate([cmd("a")], StateSnapshot(readings=readings), env, T0)
    assert ids(verdict) == {"state.unit"}


def test_tz_other_than_utc_is_accepted_when_aware() -> None:
    from datetime import timezone

    cet = timezone(timedelta(hours=1))
    start = T0.astimezone(cet)
    command = replace(cmd("a"), start=start, end=start + timedelta(minutes=15))
    (verdict,) = evaluate([command], snapshot(), site(), T0.astimezone(UTC))
    assert verdict.outcome == "accepted"

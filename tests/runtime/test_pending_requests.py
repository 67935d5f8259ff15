"""A pending request across decision cycles (issue #19 item 3): it stands while later cycles
propose nearly the same plan (recorded on it), so its expiry and escalation mean what they
say; a plan that moves beyond the tolerance supersedes it and names its successor."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from runtime.approvals import book as approvals
from runtime.approvals.pending import standing, tolerance_kw
from tests.runtime.test_approvals_workflow import feeder_state, kinds_of, make_conductor, requested

CYCLE = timedelta(minutes=5)


def test_standing_is_same_asset_kind_direction_within_tolerance() -> None:
    body = {"asset": "bat1", "kind": "active_power_kw", "value": 150.0}
    assert tolerance_kw(150.0) == 15.0 and tolerance_kw(20.0) == 10.0
    assert standing({"d1": body}, "bat1", "active_power_kw", 160.0) is not None
    assert standing({"d1": body}, "bat1", "active_power_kw", 166.0) is None
    assert standing({"d1": body}, "bat2", "active_power_kw", 150.0) is None
    assert standing({"d1": body}, "bat1", "curtail_pct", 150.0) is None
    small = {"asset": "bat1", "kind": "active_power_kw", "value": 4.0}
    assert standing({"d1": small}, "bat1", "active_power_kw", -4.0) is None  # charge vs discharge


async def test_a_request_stands_across_cycles_and_escalates_when_it_says(tmp_path: Path) -> None:
    c, clock = make_conductor(
        tmp_path,
        auto_approve_max_kw=50,
        two_person_min_kw=400,
        escalate_after_s=300,
        expiry_s=1800,
    )
    did = await requested(c, clock)
    for _ in range(1):  # the next 5-minute cycle on the same feeder state
        clock.advance(CYCLE)
        feeder_state(c, clock())
        await c.cycle(clock())
        await c.check_approvals(clock())
    assert c.dispatch_ids == [did]  # no new request: the same plan stands
    kinds = kinds_of(c, did)
    assert kinds.count("approval.reconfirmed") == 1
    assert "dispatch.superseded" not in kinds
    assert kinds.count("approval.escalated") == 1  # at 5 min, while it stands, as configured
    (p,) = approvals.pending(c.events)
    assert p.dispatch_id == did and p.escalated


async def test_a_plan_that_moves_supersedes_and_names_its_successor(tmp_path: Path) -> None:
    c, clock = make_conductor(tmp_path, auto_approve_max_kw=50, two_person_min_kw=400)
    did = await requested(c, clock)
    clock.advance(CYCLE)
    feeder_state(c, clock(), meter_kw=1190.0)  # a much smaller peak: a much smaller plan
    await c.cycle(clock())
    assert len(c.dispatch_ids) == 2
    successor = c.dispatch_ids[-1]
    (event,) = c.events.events(dispatch_id=did, kinds=("dispatch.superseded",))
    assert event.payload["successor"] == successor
    assert "tolerance" in event.payload["reason"]


async def test_a_request_whose_plan_window_is_closing_is_superseded(tmp_path: Path) -> None:
    c, clock = make_conductor(tmp_path, auto_approve_max_kw=50, two_person_min_kw=400)
    did = await requested(c, clock)
    for _ in range(2):  # 10 minutes on: the request's 15-minute plan window is closing
        clock.advance(CYCLE)
        feeder_state(c, clock())
        await c.cycle(clock())
    assert len(c.dispatch_ids) == 2
    (event,) = c.events.events(dispatch_id=did, kinds=("dispatch.superseded",))
    assert event.payload["successor"] == c.dispatch_ids[-1]


def test_standing_needs_the_pending_window_to_cover_half_the_fresh_one() -> None:
    from datetime import UTC, datetime

    t = datetime(2026, 7, 15, 18, 30, tzinfo=UTC)
    body = {
        "asset": "bat1",
        "kind": "active_power_kw",
        "value": 150.0,
        "end": (t + timedelta(minutes=15)).isoformat(),
    }
    at = {"start": t + timedelta(minutes=5), "end": t + timedelta(minutes=20)}
    assert standing({"d1": body}, "bat1", "active_power_kw", 150.0, **at) is not None
    late = {"start": t + timedelta(minutes=10), "end": t + timedelta(minutes=25)}
    assert standing({"d1": body}, "bat1", "active_power_kw", 150.0, **late) is None

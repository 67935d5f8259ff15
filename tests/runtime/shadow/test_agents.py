"""A shadow side proposes what the live conductor's agents propose, not the bare rule.

The reference is the conductor itself: a ``Conductor`` (its ``AgentSet``, seeded from a
real historian holding the 30 h before, as after a restart) is fed the shadow side's
snapshots at the same instants, and its ``dispatch.proposed`` / ``agent.decided``
records must carry the proposal and the tier the shadow side took. The scenarios are
ones where the bare rule would do something else: the forecast tier pre-charging
ahead of the evening peak, and a DR event window below the rule's threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors import Sample
from connectors.sample import SampleQuality
from runtime.agents import DrEvent, Perception
from runtime.agents.peak import UNCONTROLLED
from runtime.agents.shell import build_runners
from runtime.conductor.loop import Conductor
from runtime.config.model import SiteConfig
from runtime.core.clock import FixedClock
from runtime.decide.step import (
    Decision,
    DecisionContext,
    Outcome,
    decide_step,
    propose,
    resolve_policy,
)
from runtime.demo.feeder import SCENARIO_DIR
from runtime.ingest.historian import Historian
from runtime.log.eventlog import EventLog
from runtime.log.records import command_from
from runtime.shadow import ShadowInputs, canary, from_scenario, run_shadow, run_side
from runtime.shadow.agentside import SideAgents
from runtime.shadow.inputs import KnownDrEvent
from runtime.shadow.report import shadow_html
from runtime.shadow.world import SideWorld
from safety import Origin, StateSnapshot
from simulator import load_scenario

Seen = list[tuple[datetime, Perception]]


def recording_side(
    config: SiteConfig, inputs: ShadowInputs
) -> tuple[dict[datetime, list[Decision]], Seen]:
    """Production's side of a shadow run, keeping every perception its agents had."""
    seen: Seen = []
    agents = SideAgents(
        config, dr_events=inputs.dr_events, on_perceive=lambda p, now: seen.append((now, p))
    )
    ctx = DecisionContext.from_config(config)
    side = run_side(config, ctx, inputs, resolve_policy(config, "production"), agents=agents)
    return side.decisions, seen


def historian_before(tmp_path: Path, inputs: ShadowInputs) -> Historian:
    """What a conductor's historian holds after 30 h with the batteries idle."""
    assert inputs.lead_kw is not None
    historian = Historian(tmp_path / "history")
    n = len(inputs.lead_kw)
    first = inputs.start - timedelta(seconds=n * inputs.step_s)
    ts = [first + timedelta(seconds=i * inputs.step_s) for i in range(n)]
    historian.add_many(["substation.p_kw"] * n, ts, [float(v) for v in inputs.lead_kw])
    historian.add_many(["bat1.p_kw"] * n, ts, [0.0] * n)
    historian.flush()
    return historian


def feed(conductor: Conductor, snapshot: StateSnapshot) -> None:
    """The side's telemetry into the conductor's latest-value state, as connectors deliver it."""
    for point, reading in snapshot.readings.items():
        conductor.state.apply(
            Sample(
                point=point,
                value=reading.value,
                unit="",
                quality=SampleQuality(reading.quality.value),
                source_ts=reading.ts,
                received_ts=reading.ts,
                sequence=0,
            )
        )


async def conductor_until(
    tmp_path: Path,
    config: SiteConfig,
    seen: Seen,
    until: datetime,
    *,
    historian: Historian | None = None,
    dr: Sequence[bytes] = (),
) -> tuple[Conductor, EventLog]:
    """Run a conductor's cycles on the side's snapshots, up to and including ``until``."""
    events = EventLog(tmp_path / "events.db")
    c = Conductor(config, events, FixedClock(seen[0][0]), historian=historian)
    for raw in dr:
        c.agents.submit_dr(raw, via="test")
    for now, perception in seen:
        if now > until:
            break
        feed(c, perception.snapshot)
        await c.cycle(now)
    return c, events


def payloads(events: EventLog, kind: str) -> list[dict[str, Any]]:
    return [dict(e.payload) for e in events.events(kinds=(kind,))]


@pytest.fixture(scope="module")
def demo_day(demo_config: SiteConfig) -> ShadowInputs:
    return from_scenario(demo_config, load_scenario("demo-day", SCENARIO_DIR))


async def test_the_forecast_tier_precharges_in_the_shadow_as_in_the_conductor(
    tmp_path: Path, demo_config: SiteConfig, demo_day: ShadowInputs
) -> None:
    decisions, seen = recording_side(demo_config, demo_day)
    first = min(decisions)
    (ours,) = decisions[first]
    # Ahead of the evening peak, the forecast tier charges; the bare rule would not.
    assert (ours.agent, ours.tier) == ("peak_shaving", "peak_forecast")
    assert ours.proposal.command.value < 0 and ours.proposal.command.origin is Origin.MODEL
    perception = dict(seen)[first]
    peak = demo_config.policy.peak_shaving
    assert propose(perception.snapshot, demo_config, peak, perception.setpoints, first) == []

    historian = historian_before(tmp_path, demo_day)
    c, events = await conductor_until(tmp_path, demo_config, seen, first, historian=historian)
    try:
        # The conductor's agents saw the same history: seeded from its historian, then
        # one sample per cycle.
        theirs_history = c.agents.history[UNCONTROLLED]
        ours_history = perception.history[UNCONTROLLED]
        assert [t for t, _ in theirs_history] == [t for t, _ in ours_history]
        assert [v for _, v in theirs_history] == pytest.approx([v for _, v in ours_history])
        (proposed,) = payloads(events, "dispatch.proposed")
        assert command_from(proposed["command"]) == ours.proposal.command
        assert proposed["policy"] == ours.proposal.policy == "peak_forecast"
        decided = [p for p in payloads(events, "agent.decided") if p["proposals"]]
        assert [(p["agent"], p["tier"]) for p in decided] == [("peak_shaving", "peak_forecast")]
    finally:
        events.close()
    # Every later instant: the conductor's runners on the side's perception agree.
    for now, perception in seen:
        wanted = [
            (p.command.key, p.command.value, step.tier)
            for runner in c.agents.runners
            for step in [runner.step(perception, c.decision_config(), now)]
            for p in step.decision.proposals
        ]
        got = [
            (d.proposal.command.key, d.proposal.command.value, d.tier)
            for d in decisions.get(now, [])
        ]
        assert got == wanted, now


async def test_a_dr_window_is_honoured_in_the_shadow_as_in_the_conductor(
    tmp_path: Path, demo_config: SiteConfig, evening_peak: ShadowInputs
) -> None:
    start = evening_peak.start + timedelta(minutes=30)  # 16:00, below the rule's threshold
    raw = orjson.dumps(
        {
            "event_id": "dr-7",
            "target_kw": 500,  # about 130 kW below the feeder's import
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "targets": ["bat1"],
        }
    )
    event = DrEvent.model_validate_json(raw)
    known = KnownDrEvent(known_at=evening_peak.start, event=event)
    inputs = replace(evening_peak, dr_events=(known,))
    decisions, seen = recording_side(demo_config, inputs)
    (ours,) = decisions[start]
    assert (ours.agent, ours.tier) == ("dr_events", "dr_events")
    assert ours.proposal.command.origin is Origin.DR_EVENT and ours.proposal.command.value > 0
    assert all(d.agent == "peak_shaving" for at, ds in decisions.items() if at < start for d in ds)
    perception = dict(seen)[start]
    peak = demo_config.policy.peak_shaving
    assert propose(perception.snapshot, demo_config, peak, perception.setpoints, start) == []

    _, events = await conductor_until(tmp_path, demo_config, seen, start, dr=[raw])
    try:
        assert [p["event_id"] for p in payloads(events, "agent.dr_event_accepted")] == ["dr-7"]
        proposed = [p for p in payloads(events, "dispatch.proposed") if p["policy"] == "dr_event"]
        (first,) = proposed
        assert command_from(first["command"]) == ours.proposal.command
    finally:
        events.close()


def test_the_report_names_the_tier_behind_each_proposal(
    demo_config: SiteConfig, demo_day: ShadowInputs
) -> None:
    production = resolve_policy(demo_config, "production")
    result = run_shadow(demo_config, demo_day, production, production)
    assert result.decisions_differ == 0
    tiers = result.as_json()["production"]["proposals_by_tier"]  # type: ignore[index]
    assert tiers["peak_forecast"] >= 1
    assert sum(tiers.values()) == result.production.kpis.proposals
    page = shadow_html(result)
    assert "id=tiers" in page and "id=proposals" in page
    assert page.count("<td>peak_forecast</td>") >= tiers["peak_forecast"]


async def test_the_canary_decides_through_the_agents_as_production_does(
    tmp_path: Path, demo_config: SiteConfig, demo_day: ShadowInputs
) -> None:
    # 14:05 on the demo day: the forecast tier pre-charges ahead of the evening peak.
    decisions, seen = recording_side(demo_config, demo_day)
    first = min(decisions)
    historian = historian_before(tmp_path, demo_day)
    events = EventLog(tmp_path / "events.db")
    canary.start(events, demo_config, "low-threshold", user="eng", reason="", now=seen[0][0])
    c = Conductor(demo_config, events, FixedClock(seen[0][0]), historian=historian)
    try:
        for now, perception in seen:
            if now > first:
                break
            feed(c, perception.snapshot)
            await c.cycle(now)
        (proposed,) = payloads(events, "dispatch.proposed")
        recorded = payloads(events, "canary.decision")
        assert len(recorded) == len([n for n, _ in seen if n <= first])
        last = recorded[-1]
        (ours,) = last["production_decisions"]
        assert ours["tier"] == "peak_forecast"
        assert ours["key"] == proposed["command"]["key"]
        assert ours["proposed_kw"] == proposed["command"]["value"] < 0
        # the candidate (1,000 kW threshold) runs the same forecast tier with its threshold
        (theirs,) = last["candidate_decisions"]
        assert theirs["tier"] == "peak_forecast" and theirs["proposed_kw"] < 0
        # and before the pre-charge neither side proposed (the rule alone would not either)
        assert all(not r["production_decisions"] for r in recorded[:-1])
    finally:
        events.close()


def test_a_side_escalates_as_the_conductors_runner_does(
    demo_config: SiteConfig, evening_peak: ShadowInputs
) -> None:
    world = SideWorld(demo_config, evening_peak)
    at = evening_peak.start + timedelta(hours=2, minutes=30)  # 18:00: about 50 kW over
    world.advance(at)
    snapshot = world.snapshot()
    perception = Perception(snapshot=snapshot, setpoints={"bat1": 0.0})
    side = SideAgents(demo_config)
    (runner,) = [r for r in build_runners(demo_config) if r.name == "peak_shaving"]
    ctx = DecisionContext.from_config(demo_config)
    production = resolve_policy(demo_config, "production")
    outcomes = []
    # three refusals in a row escalate; a proposal that passes clears it
    for k, accepted in enumerate([False, False, False, True, False]):
        now = at + timedelta(minutes=5 * k)
        ours = side.decide(perception, now)
        theirs = runner.step(perception, demo_config, now).decision.proposals
        assert [p.proposal for p in ours] == list(theirs)
        (decided,) = decide_step(
            snapshot, None, ctx, production, at, setpoints={"bat1": 0.0}, proposed=ours
        )
        outcomes.append((ours[0].proposal.escalated, decided.outcome))
        side.outcome("peak_shaving", accepted=accepted)
        runner.outcome(accepted=accepted)
    small = Outcome.AUTO  # about 50 kW: under the auto-approve limit unless escalated
    assert outcomes == [
        (False, small),
        (False, small),
        (False, small),
        (True, Outcome.NEEDS_APPROVAL),  # as Conductor.handle: an operator signs it off
        (False, small),
    ]

"""A shadow side's gate takes what production's conductor gives its gate: the side's own
dispatch history and a seasonal-naive feeder forecast from its own telemetry.

The reference is the conductor itself: the same proposals, on the same snapshots at the
same instants, go through ``Conductor.handle`` (its event log, its historian, the gate,
the twin, the power flow, the outbox) and its device writes drive a copy of the side's
simulated field. Every gate record it writes must be the one the shadow side took.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from connectors import WriteResult
from runtime.conductor.loop import Conductor
from runtime.conductor.outbox import Outbox
from runtime.config.model import SiteConfig, load_config
from runtime.config.safety_config import RateLimitConfig
from runtime.core.clock import FixedClock
from runtime.decide.step import Decision, DecisionContext, Outcome, propose, resolve_policy
from runtime.demo.feeder import DEFAULT_CONFIG, SCENARIO_DIR
from runtime.ingest.historian import Historian
from runtime.log import events as ev
from runtime.log.eventlog import EventLog
from runtime.shadow import ShadowInputs, SideResult, from_scenario, run_shadow, run_side
from runtime.shadow.sidegate import SideGate
from runtime.shadow.world import SideWorld
from safety import ApprovedCommand, Clamped, Rejected
from simulator import load_scenario

START = datetime(2026, 7, 16, 17, 0, tzinfo=UTC)
STEP_S = 10.0
HOUR_STEPS = int(3600 / STEP_S) + 1  # 17:00 .. 18:00 inclusive
DAY_STEPS = int(86400 / STEP_S)


def limited(ramp_kw_per_min: float, max_commands: int) -> SiteConfig:
    """The demo feeder with bat1's ramp and rate limit replaced."""
    config = load_config(DEFAULT_CONFIG)
    assets = []
    for asset in config.assets:
        if asset.id == "bat1":
            limits = asset.limits.model_copy(
                update={
                    "ramp_kw_per_min": ramp_kw_per_min,
                    "rate_limit": RateLimitConfig(max_commands=max_commands, window_s=3600),
                }
            )
            asset = asset.model_copy(update={"limits": limits})
        assets.append(asset)
    return config.model_copy(update={"assets": assets})


def an_hour(base_kw: np.ndarray, yesterday_kw: np.ndarray | None) -> ShadowInputs:
    """17:00-18:00 on the demo feeder: ``base_kw`` of load, no PV, nothing curtailed."""
    zero = np.zeros(HOUR_STEPS)
    return ShadowInputs(
        label="test hour",
        start=START,
        step_s=STEP_S,
        base_load_kw=base_kw,
        pv_kw={"pv1": zero},
        load_kw={"load1": zero},
        initial_soc_pct={"bat1": 85.0},
        yesterday_kw=yesterday_kw,
    )


class FieldDevice:
    """The conductor's write path onto a simulated field (the stand-in for a real device)."""

    def __init__(self, world: SideWorld) -> None:
        self.world = world

    async def write(self, approved: ApprovedCommand, source: str) -> WriteResult:
        applied = self.world.apply(approved.asset, approved.key, approved.value)
        return WriteResult(
            key=approved.key,
            written_value=approved.value,
            readback_value=approved.value if applied else 0.0,
            applied_key=approved.key if applied else "",
        )


def historian_with_yesterday(root: Path, yesterday_kw: np.ndarray | None) -> Historian:
    """What production's historian holds of the day before: the feeder meter, bat1 idle."""
    historian = Historian(root)
    if yesterday_kw is not None:
        origin = START - timedelta(days=1)
        times = [origin + timedelta(seconds=i * STEP_S) for i in range(len(yesterday_kw))]
        historian.add_many(["substation.p_kw"] * len(times), times, list(map(float, yesterday_kw)))
        historian.add_many(["bat1.p_kw"] * len(times), times, [0.0] * len(times))
    historian.flush()
    return historian


def outcome_of(log: EventLog, dispatch_id: str) -> Outcome:
    for e in log.events(dispatch_id=dispatch_id):
        if e.kind == "dispatch.rejected":
            return Outcome.REJECTED
        if e.kind == "dispatch.blocked":
            return Outcome.BLOCKED
        if e.kind == "approval.auto":
            auto = e.payload["requirement"] == "auto"
            return Outcome.AUTO if auto else Outcome.NEEDS_APPROVAL
        if e.kind == "approval.requested":  # e.g. an escalated agent: an operator decides
            return Outcome.NEEDS_APPROVAL
    raise AssertionError(f"{dispatch_id}: the conductor recorded no outcome")


async def production_agrees(
    tmp_path: Path, config: SiteConfig, inputs: ShadowInputs, side: SideResult
) -> int:
    """Run the conductor on the side's proposals, snapshots and instants; assert that each
    gate record and outcome is the side's. Returns how many proposals were compared."""
    clock = FixedClock(inputs.start)
    log = EventLog(tmp_path / "events.db")
    historian = historian_with_yesterday(tmp_path / "historian", inputs.yesterday_kw)
    conductor = Conductor(config, log, clock, auto_approve=True, historian=historian)
    world = SideWorld(config, inputs)  # production's field: only the conductor's writes move it
    conductor.outbox = Outbox(log, FieldDevice(world).write, clock)
    policy = side.policy.peak_shaving
    cadence = timedelta(seconds=policy.cadence_s)
    compared = 0
    now = inputs.start
    while now <= inputs.end:
        world.advance(now)
        snapshot = world.snapshot()
        clock.now = now
        ours = propose(snapshot, config, policy, conductor.setpoints, now)
        theirs = side.decisions.get(now, [])
        assert [p.command for p in ours] == [d.proposal.command for d in theirs], now
        for d in theirs:
            await conductor.handle(d.proposal, snapshot, now)
            key = d.proposal.command.key
            (gated,) = [e for e in log.events(dispatch_id=key, kinds=("dispatch.gated",))]
            assert d.inputs is not None
            _, expected = ev.dump(d.inputs.gated(d.verdict))
            assert gated.payload == {**expected, "v": gated.payload["v"]}, now
            assert outcome_of(log, key) is d.outcome, now
            compared += 1
        now += cadence
    log.close()
    return compared


def ramp_reason(d: Decision) -> str:
    assert isinstance(d.verdict, Clamped | Rejected)
    (hit,) = [h for h in d.verdict.hits if h.constraint == "ramp"]
    return hit.reason


def hits(side: SideResult) -> list[tuple[str, float | None, set[str]]]:
    """Per proposal in time order: verdict, approved kW, the constraints that fired."""
    out = []
    for _, decisions in sorted(side.decisions.items()):
        for d in decisions:
            fired = {h.constraint for h in getattr(d.verdict, "hits", ())}
            out.append((type(d.verdict).__name__, d.value_kw, fired))
    return out


async def test_rate_limit_and_ramp_from_the_last_dispatch_decide_as_in_production(
    tmp_path: Path,
) -> None:
    # 300 kW above the threshold all hour; bat1 may move 20 kW per minute-interval and
    # take 3 commands an hour. Production clamps 20, 40, 60 (each from the last dispatched
    # value), refuses while the log's history has 3 sends in the past hour, and clamps
    # 80 once the 17:00 send has left the window. A gate without history ramps from the
    # measured output and never counts a command: it would dispatch at every cycle.
    config = limited(ramp_kw_per_min=20.0, max_commands=3)
    inputs = an_hour(np.full(HOUR_STEPS, 1400.0), None)
    side = run_side(
        config, DecisionContext.from_config(config), inputs, resolve_policy(config, "production")
    )
    got = hits(side)
    assert len(got) == 13  # a proposal every cycle, 17:00 .. 18:00
    assert [(kind, kw) for kind, kw, _ in got] == [
        ("Clamped", 20.0),
        ("Clamped", 40.0),
        ("Clamped", 60.0),
        *[("Rejected", None)] * 9,
        ("Clamped", 80.0),
    ]
    assert all("rate_limit" in fired for _, _, fired in got[3:12])
    assert side.kpis.dispatches == 4
    first, second = (ds[0] for _, ds in sorted(side.decisions.items())[:2])
    assert "from the measured bat1.p_kw" in ramp_reason(first)
    assert "from the last dispatched value" in ramp_reason(second)
    assert second.inputs is not None
    assert [(d.value, d.at) for d in second.inputs.history] == [(20.0, START)]
    # nine refusals in a row escalated the peak-shaving agent, as in the conductor: the
    # 80 kW that passes the gate at 18:00 needs an operator although it is small
    last = sorted(side.decisions.items())[-1][1][0]
    assert last.proposal.escalated and last.outcome is Outcome.NEEDS_APPROVAL

    assert await production_agrees(tmp_path, config, inputs, side) == 13


async def test_the_feeder_forecast_reaches_the_shadow_gate_as_in_production(
    tmp_path: Path,
) -> None:
    # The load climbs 10 kW a minute from 1,300 kW. A day ago the feeder fell to 2,000 kW
    # export at 17:25: level-adjusted, the forecast expects that drop, beyond the 1,600 kW
    # transformer rating, so from 17:15 (whose 15-minute command reaches 17:25) more
    # discharge would only add to the export and the gate refuses it (thermal.feeder).
    # The measured state alone sees nothing wrong.
    config = load_config(DEFAULT_CONFIG)
    base = 1300.0 + 10.0 / 60.0 * STEP_S * np.arange(HOUR_STEPS)
    yesterday = np.full(DAY_STEPS, 1300.0)
    yesterday[int(25 * 60 / STEP_S) :] = -2000.0  # the day before starts at 17:00 too
    inputs = an_hour(base, yesterday)
    side = run_side(
        config, DecisionContext.from_config(config), inputs, resolve_policy(config, "production")
    )
    at_1715 = side.decisions[START + timedelta(minutes=15)][0]
    assert isinstance(at_1715.verdict, Rejected)
    assert "thermal.feeder" in {h.constraint for h in at_1715.verdict.hits}
    assert at_1715.inputs is not None and at_1715.inputs.forecast is not None
    series = at_1715.inputs.forecast.feeder_net_kw["feeder"]
    assert len(series) == 3 and series[2] == pytest.approx(series[0] - 3300.0)
    assert at_1715.inputs.forecast_note.startswith("seasonal naive")
    before = side.decisions[START][0]
    assert not isinstance(before.verdict, Rejected)

    assert await production_agrees(tmp_path, config, inputs, side) >= 4


def test_production_against_itself_still_differs_nowhere_with_history_and_forecast(
    demo_config: SiteConfig, evening_peak: ShadowInputs
) -> None:
    production = resolve_policy(demo_config, "production")
    result = run_shadow(demo_config, evening_peak, production, production)
    decided = [d for ds in result.production.decisions.values() for d in ds]
    assert decided and all(d.inputs is not None for d in decided)
    assert all(d.inputs.forecast is not None for d in decided if d.inputs is not None)
    assert any(d.inputs.history for d in decided if d.inputs is not None)
    assert result.decisions_differ == 0


def test_the_side_telemetry_is_what_a_historian_would_hold(demo_config: SiteConfig) -> None:
    # comms-loss: the link is down 18:30-18:45 (no samples at all), bat1 is offline
    # 19:30-19:40 (its samples are bad: not kept); otherwise the field's own values.
    inputs = from_scenario(demo_config, load_scenario("comms-loss", SCENARIO_DIR))
    world = SideWorld(demo_config, inputs)
    gate = SideGate(demo_config, DecisionContext.from_config(demo_config).envelope, inputs, world)
    world.advance(inputs.end)
    day = inputs.start.replace(hour=0, minute=0)

    def times(point: str, since: datetime, until: datetime) -> list[datetime]:
        return [ts for _, ts, _ in gate.samples((point,), since, until)]

    link_down = (day + timedelta(hours=18, minutes=30), day + timedelta(hours=18, minutes=45))
    assert times("substation.p_kw", *link_down) == []
    offline = (day + timedelta(hours=19, minutes=30), day + timedelta(hours=19, minutes=40))
    assert times("bat1.p_kw", *offline) == []
    assert len(times("substation.p_kw", *offline)) == 60  # the meter still reports
    rows = list(gate.samples(("substation.p_kw",), inputs.start, link_down[0]))
    assert len(rows) == int((link_down[0] - inputs.start).total_seconds() / inputs.step_s)
    assert [v for _, _, v in rows] == world.series.meter_kw[: len(rows)]
    # before the run: the inputs' day before, on the meter, with the battery idle
    hour_before = (inputs.start - timedelta(hours=1), inputs.start)
    assert inputs.yesterday_kw is not None
    meter = [v for _, _, v in gate.samples(("substation.p_kw",), *hour_before)]
    assert meter == list(inputs.yesterday_kw[-360:])
    assert {v for _, _, v in gate.samples(("bat1.p_kw",), *hour_before)} == {0.0}

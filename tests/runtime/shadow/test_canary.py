"""Canary runs: a candidate decides live next to production on a real demo run (virtual
field on OPC UA, the conductor, the event log); it is recorded and never dispatched."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors import Sample, SampleQuality
from runtime.cli import main
from runtime.conductor.loop import Conductor
from runtime.conductor.outbox import Outbox
from runtime.config.model import HierarchyConfig, load_config
from runtime.core.clock import FixedClock
from runtime.demo.feeder import DEFAULT_CONFIG, load_demo_inputs, run_demo
from runtime.hierarchy import follow
from runtime.hierarchy.wire import Cap
from runtime.log.eventlog import EventLog
from runtime.shadow import canary, from_scenario
from runtime.shadow.world import SideWorld
from safety import StateSnapshot
from tests.runtime.shadow.test_sidegate import FieldDevice, limited

CanaryRun = tuple[Path, list[dict[str, Any]]]
NOW = datetime(2026, 7, 15, 15, 0, tzinfo=UTC)
CAP_KW = 600.0


@pytest.fixture(scope="module")
def canary_run(tmp_path_factory: pytest.TempPathFactory) -> CanaryRun:
    db = tmp_path_factory.mktemp("canary") / "events.db"
    config, scenario = load_demo_inputs(None, "evening-peak")
    # 40 minutes around where the candidate (1,000 kW) starts shaving and production
    # (1,100 kW) follows; slow enough that the telemetry stays fresh on a loaded machine.
    scenario = scenario.model_copy(
        update={"start": datetime(2026, 7, 15, 17, 40, tzinfo=UTC), "duration_s": 2400.0}
    )
    log = EventLog(db)
    canary.start(log, config, "low-threshold", user="eng", reason="try 1,000 kW", now=NOW)
    log.close()
    result = asyncio.run(
        run_demo(
            config=config,
            scenario=scenario,
            db_path=db,
            speed=40.0,
            duration_s=None,
            auto_approve=True,
        )
    )
    return db, result.device_ledger


def test_canary_decisions_are_recorded_next_to_production(canary_run: CanaryRun) -> None:
    db, _ = canary_run
    log = EventLog(db, readonly=True)
    decisions = [e for e in log.events(kinds=("canary.decision",))]
    proposed = {e.ts: e.payload for e in log.events(kinds=("dispatch.proposed",))}
    log.close()
    assert len(decisions) >= 6  # one per 5-minute cycle
    assert all(e.payload["candidate"] == "low-threshold" for e in decisions)
    assert all(e.payload["production"] == "production" for e in decisions)
    assert any(e.payload["differ"] for e in decisions)
    # the candidate acts earlier: instants where only the candidate proposed something
    only_candidate = [
        e
        for e in decisions
        if e.payload["candidate_decisions"] and not e.payload["production_decisions"]
    ]
    assert only_candidate
    # production's half of each record is what the conductor itself proposed at that cycle
    for e in decisions:
        ours = e.payload["production_decisions"]
        if ours and e.ts in proposed:
            assert ours[0]["proposed_kw"] == proposed[e.ts]["command"]["value"]


def test_nothing_from_the_candidate_reaches_the_outbox_or_the_device(canary_run: CanaryRun) -> None:
    db, ledger = canary_run
    log = EventLog(db, readonly=True)
    production_keys = {e.dispatch_id for e in log.events(kinds=("dispatch.proposed",))}
    outbox = [e for e in log.events(kinds=("dispatch.approved", "dispatch.sent"))]
    candidate_only = {
        (d["key"], d["value_kw"])
        for e in log.events(kinds=("canary.decision",))
        for d in e.payload["candidate_decisions"]
        if (d["key"], d["value_kw"])
        not in {(p["key"], p["value_kw"]) for p in e.payload["production_decisions"]}
    }
    log.close()
    assert candidate_only  # the candidate did decide differently
    assert outbox and all(e.dispatch_id in production_keys for e in outbox)
    applied = {(row["key"], row["value_kw"]) for row in ledger}
    assert applied and not applied & candidate_only
    sent = {(e.dispatch_id, e.payload["value"]) for e in outbox}
    assert not sent & candidate_only


def test_status_report_and_promotion(
    canary_run: CanaryRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _ = canary_run
    report = tmp_path / "canary.html"
    assert main(["canary", "status", "--db", str(db), "--report", str(report), "--json"]) == 0
    status = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status["active"] == "low-threshold" and status["decisions_differ"] > 0
    assert status["candidate_kpis"]["proposals"] > status["production_kpis"]["proposals"]
    html = report.read_text(encoding="utf-8")
    assert 'src="data:image/png;base64,' in html and "<table id=differences>" in html

    copy = tmp_path / "promote.db"
    copy.write_bytes(db.read_bytes())
    assert main(["canary", "promote", "--db", str(copy), "--user", "eng", "--reason", "ok"]) == 0
    log = EventLog(copy)
    promoted = [e.payload for e in log.events(kinds=("canary.promoted",))]
    assert promoted == [
        {
            "v": 1,
            "candidate": "low-threshold",
            "previous": "production",
            "user": "eng",
            "reason": "ok",
            "models": promoted[0]["models"],
        }
    ]
    # a conductor started on this log runs the promoted policy, and no canary
    conductor = Conductor(load_config(DEFAULT_CONFIG), log, FixedClock(NOW))
    assert conductor.policy.name == "low-threshold"
    assert conductor.policy.peak_shaving.threshold_kw == 1000
    assert conductor.canary.state.active is None
    log.close()
    assert main(["canary", "promote", "--db", str(copy)]) == 1  # nothing active any more
    assert "no canary is active" in capsys.readouterr().err
    # shadow runs against this site compare with the promoted production
    argv = ["shadow", "--scenario", "cloud-transient", "--candidate", "production"]
    assert main([*argv, "--db", str(copy), "--report", str(tmp_path / "s.html"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["production"]["policy"] == "low-threshold"
    assert summary["candidate"] == summary["production"] and summary["decisions_differ"] == 0


def test_rollback_keeps_production(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "events.db"
    assert main(["canary", "start", "--candidate", "nope", "--db", str(db)]) == 2
    assert "known: production, low-threshold" in capsys.readouterr().err
    assert main(["canary", "start", "--candidate", "low-threshold", "--db", str(db)]) == 0
    assert main(["canary", "start", "--candidate", "seasonal-forecast", "--db", str(db)]) == 1
    assert "promote or roll it back first" in capsys.readouterr().err
    assert main(["canary", "rollback", "--db", str(db), "--reason", "peak went up"]) == 0
    log = EventLog(db)
    kinds = [e.kind for e in log.events()]
    assert kinds == ["canary.started", "canary.rolled_back"]
    conductor = Conductor(load_config(DEFAULT_CONFIG), log, FixedClock(NOW))
    assert conductor.policy.name == "production"
    assert conductor.canary.state.active is None
    log.close()
    assert main(["canary", "status", "--db", str(db), "--json"]) == 0
    status = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status["active"] is None and status["production"] == "production"


def test_canary_step_records_and_a_failing_candidate_never_stops_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, scenario = load_demo_inputs(None, "evening-peak")
    world = SideWorld(config, from_scenario(config, scenario))
    at = datetime(2026, 7, 15, 18, 30, tzinfo=UTC)
    world.advance(at)
    snapshot = world.snapshot()  # the simulated field at 18:30: above both thresholds
    log = EventLog(tmp_path / "events.db")
    canary.start(log, config, "low-threshold", user="eng", reason="", now=NOW)
    conductor = Conductor(config, log, FixedClock(at))
    theirs = conductor.canary.observe(snapshot, at, {"bat1": 0.0}, conductor.policy)
    assert theirs and theirs[0].proposal.command.value > 0
    (event,) = [e for e in log.events(kinds=("canary.decision",))]
    assert event.payload["differ"] is True
    assert event.payload["inputs"]["meter_p_kw"] == pytest.approx(world.meter_kw())
    ours = event.payload["production_decisions"][0]["proposed_kw"]
    assert event.payload["candidate_decisions"][0]["proposed_kw"] == ours + 100  # 1,000 vs 1,100

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("candidate model crashed")

    monkeypatch.setattr(canary, "decide_step", broken)
    assert conductor.canary.observe(snapshot, at, {"bat1": 0.0}, conductor.policy) == []
    assert conductor.canary.errors == 1
    assert len(list(log.events(kinds=("canary.decision",)))) == 1
    log.close()


async def test_under_a_controller_cap_the_canary_compares_with_capped_production(
    tmp_path: Path,
) -> None:
    # At 17:00 the feeder draws about 800 kW: below production's 1,100 kW and the
    # candidate's 1,000 kW, above the controller's 600 kW cap. Production obeys the cap
    # and proposes; so must its half of the canary record, and the candidate (which would
    # run under the same cap if promoted) proposes the same: the two do not differ.
    config, scenario = load_demo_inputs(None, "evening-peak")
    broker = {"host": "127.0.0.1", "port": 1, "allow_insecure": True}  # never connected
    hierarchy = HierarchyConfig.model_validate({"broker": broker})
    config = config.model_copy(update={"hierarchy": hierarchy})
    at = datetime(2026, 7, 15, 17, 0, tzinfo=UTC)
    world = SideWorld(config, from_scenario(config, scenario))
    world.advance(at)
    snapshot = world.snapshot()
    demand_kw = world.meter_kw() + world.batteries["bat1"].p_kw
    assert CAP_KW < demand_kw < 1000 - 15, demand_kw
    log = EventLog(tmp_path / "events.db")
    canary.start(log, config, "low-threshold", user="eng", reason="", now=NOW)
    conductor = Conductor(config, log, FixedClock(at))
    assert conductor.link is not None
    cap = Cap(
        cap_kw=CAP_KW,
        valid_until=at + timedelta(hours=1),
        issued_at=at,
        seq=1,
        controller="controller",
    )
    conductor.link.link = follow.Link(
        started_at=at, mode=follow.Mode.COORDINATED, cap=cap, last_seq=1, heard_at=at, online=True
    )
    feed(conductor, snapshot)
    await conductor.cycle(at)
    (proposed,) = log.events(kinds=("dispatch.proposed",))
    assert proposed.payload["command"]["value"] == round(demand_kw - CAP_KW)
    (event,) = log.events(kinds=("canary.decision",))
    ours = event.payload["production_decisions"]
    assert [d["proposed_kw"] for d in ours] == [proposed.payload["command"]["value"]]
    assert event.payload["candidate_decisions"] == ours
    assert event.payload["differ"] is False
    log.close()


def feed(conductor: Conductor, snapshot: StateSnapshot) -> None:
    """The snapshot's readings as samples into the conductor's live state."""
    for reading in snapshot.readings.values():
        conductor.state.apply(
            Sample(
                point=reading.point,
                value=reading.value,
                unit="",
                quality=SampleQuality(reading.quality.value),
                source_ts=reading.ts,
                received_ts=reading.ts,
                sequence=0,
            )
        )


async def test_the_canary_gates_with_the_live_dispatch_history(tmp_path: Path) -> None:
    # bat1 may take one command an hour and move 20 kW per minute. Production sends its
    # first (clamped to 20 kW); five minutes later the conductor's gate refuses the next
    # (rate limit, from the log's history), and so must both halves of the canary record.
    _, scenario = load_demo_inputs(None, "evening-peak")
    config = limited(ramp_kw_per_min=20.0, max_commands=1)
    at = datetime(2026, 7, 15, 18, 30, tzinfo=UTC)
    clock = FixedClock(at)
    log = EventLog(tmp_path / "events.db")
    canary.start(log, config, "low-threshold", user="eng", reason="", now=NOW)
    conductor = Conductor(config, log, clock, auto_approve=True)
    world = SideWorld(config, from_scenario(config, scenario))
    conductor.outbox = Outbox(log, FieldDevice(world).write, clock)
    for now in (at, at + timedelta(minutes=5)):
        clock.now = now
        world.advance(now)
        feed(conductor, world.snapshot())
        await conductor.cycle(now)
    first, second = log.events(kinds=("canary.decision",))
    assert len({e.dispatch_id for e in log.events(kinds=("dispatch.sent",))}) == 1
    assert [d["value_kw"] for d in first.payload["production_decisions"]] == [20.0]
    (refused,) = log.events(kinds=("dispatch.rejected",))  # the conductor's own, at 18:35
    assert refused.ts == second.ts and "at most 1 allowed" in refused.payload["reason"]
    for half in ("production_decisions", "candidate_decisions"):
        (decided,) = second.payload[half]
        assert decided["outcome"] == "rejected" and "at most 1 allowed" in decided["reason"], half
    log.close()

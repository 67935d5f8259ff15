"""Replay of curtailment dispatches: the approval rule compares the kW a curtailment sheds
(from the recorded snapshot), as production does, not the raw percentage."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from runtime.approvals import book as approvals
from runtime.audit.replay import replay
from runtime.config.model import SiteConfig
from runtime.log import events as ev
from runtime.log import records
from runtime.log.eventlog import EventLog

from .agents.support import T0, conductor, config, feed, kinds
from .agents.test_conductor import FIELD

HIGH_VOLTAGE = {
    "substation.p_kw": 700.0,  # under the peak threshold: only the PV agent proposes
    "substation.v_end_pu": 1.062,
    "bat1.p_kw": 0.0,
    "bat1.soc_pct": 80.0,
    "pv1.p_kw": 300.0,
    "pv1.curtail_pct": 0.0,
    "load1.p_kw": 200.0,
    "load1.curtail_pct": 0.0,
}


def pv_agent_30_pct(raw: dict[str, Any]) -> None:
    """The PV agent on a measured bus voltage, curtailing in 30 % steps, pv1 without a ramp."""
    meter = next(a for a in raw["assets"] if a["id"] == "substation")
    meter["points"]["v_end_pu"] = {"source": "field", "node": "ns=2;s=substation.v_end_pu"}
    raw["safety"]["buses"] = [
        {"id": "feeder_end", "point": "substation.v_end_pu", "min_pu": 0.95, "max_pu": 1.05}
    ]
    raw["agents"]["pv_curtailment"] = {
        "enabled": True,
        "pv": "pv1",
        "bus": "feeder_end",
        "step_pct": 30,
    }
    pv = next(a for a in raw["assets"] if a["id"] == "pv1")
    pv["limits"].pop("ramp_pct_per_min")


async def recorded(tmp_path: Path, cfg: SiteConfig) -> tuple[Path, str]:
    """A conductor decides one cycle on high voltage; the log holds a pv1 curtailment."""
    c, _clock, events = conductor(tmp_path, cfg)
    body, sha = records.config_json(cfg)  # what connect() records: replay's config
    events.append_event(
        ev.RuntimeStarted(site=cfg.site.id, sources=[], config=body, config_sha=sha), ts=T0
    )
    feed(c, HIGH_VOLTAGE, T0)
    await c.cycle(T0)
    (proposed,) = kinds(events, "dispatch.proposed")
    assert proposed.payload["policy"] == "pv_curtailment"
    assert proposed.payload["command"]["value"] == 30.0
    (requested,) = kinds(events, "approval.requested")
    # 400 kW rated x 30 % = 120 kW shed > 100 kW auto-approve: one operator
    assert requested.payload["requirement"] == "one_operator"
    assert requested.dispatch_id == proposed.dispatch_id
    events.close()
    return tmp_path / "events.db", str(proposed.dispatch_id)


async def test_replay_reproduces_the_approval_requirement_of_a_curtailment(
    tmp_path: Path,
) -> None:
    cfg = config(pv_agent_30_pct)
    db, did = await recorded(tmp_path, cfg)
    # The raw percentage through the kW rule would say auto: the two differ on this log.
    assert approvals.requirement(30.0, cfg.approvals) is approvals.Requirement.AUTO
    log = EventLog(db)
    try:
        result = replay(log, T0, T0)
    finally:
        log.close()
    assert result.dispatches == 1 and result.skipped == []
    assert result.proposal_not_rerun == [did]  # the agent's proposal itself is not re-run
    assert result.decisions == 2  # the gate and the approval rule (not simulated: no twin)
    assert result.differences == []


async def test_replay_with_a_candidate_threshold_compares_the_kw_shed(tmp_path: Path) -> None:
    cfg = config(pv_agent_30_pct)
    db, did = await recorded(tmp_path, cfg)
    # 150 kW auto-approve: the 120 kW shed would have been automatic (and "30" says
    # nothing: at a 25 kW limit it would still be under it, the kW shed is not)
    for limit, replayed in ((150.0, "auto"), (25.0, "one_operator")):
        candidate = cfg.model_copy(
            update={"approvals": cfg.approvals.model_copy(update={"auto_approve_max_kw": limit})}
        )
        log = EventLog(db)
        try:
            result = replay(log, T0, T0, config=candidate)
        finally:
            log.close()
        found = [(d.dispatch_id, d.decision, d.recorded, d.replayed) for d in result.differences]
        if replayed == "one_operator":
            assert found == []
        else:
            assert found == [(did, "approval_rule", "one_operator", replayed)]


async def test_replay_of_an_escalated_agent_keeps_the_operator_it_required(
    tmp_path: Path,
) -> None:
    """After three gate rejections in a row the peak agent escalates: its next 90 kW
    proposal (under the auto-approve limit) went to an operator, and replay agrees."""
    cfg = config()
    c, _clock, events = conductor(tmp_path, cfg)
    body, sha = records.config_json(cfg)
    events.append_event(
        ev.RuntimeStarted(site=cfg.site.id, sources=[], config=body, config_sha=sha), ts=T0
    )
    feed(c, FIELD, T0 - timedelta(hours=1))  # stale: the gate fails closed, three times
    for k in range(3):
        await c.cycle(T0 + timedelta(minutes=5 * k))
    now = T0 + timedelta(minutes=15)
    feed(c, FIELD, now)
    await c.cycle(now)
    (requested,) = kinds(events, "approval.requested")
    assert requested.payload["requirement"] == "one_operator"
    result = replay(events, T0, now)
    events.close()
    assert result.dispatches == 4 and result.proposal_not_rerun == []
    assert result.differences == []

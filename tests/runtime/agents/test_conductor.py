"""Agents in the conductor: escalation after repeated rejections; observe -> alert / revert."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from runtime.agents.observe import Prediction, observe, prediction
from runtime.config.model import ObserveConfig, SiteConfig
from tests.integration.test_skeleton import fresh, rig, wait_for

from .support import T0, conductor, config, feed, kinds, snapshot

FIELD = {
    "substation.p_kw": 1190.0,  # 90 kW over the threshold: auto-approved size
    "bat1.p_kw": 0.0,
    "bat1.soc_pct": 80.0,
    "pv1.p_kw": 0.0,
    "pv1.curtail_pct": 0.0,
    "load1.p_kw": 200.0,
    "load1.curtail_pct": 0.0,
}


async def test_repeated_rejections_escalate_to_a_human(tmp_path: Path) -> None:
    c, _clock, events = conductor(tmp_path, config())
    stale = T0 - timedelta(hours=1)  # older than safety.max_age_s: the gate fails closed
    feed(c, FIELD, stale)
    for k in range(3):
        await c.cycle(T0 + timedelta(minutes=5 * k))
    assert len(kinds(events, "dispatch.rejected")) == 3
    (escalated,) = kinds(events, "agent.escalated")
    assert escalated.payload["agent"] == "peak_shaving"
    assert escalated.payload["rejections"] == 3
    # Fresh state: the next proposal passes the gate, but a human must sign it off
    # even though 90 kW is under the auto-approve limit.
    now = T0 + timedelta(minutes=15)
    feed(c, FIELD, now)
    await c.cycle(now)
    (requested,) = kinds(events, "approval.requested")
    assert requested.payload["value"] == 90.0
    assert requested.payload["requirement"] == "one_operator"
    assert not kinds(events, "approval.auto")
    decided = [e.payload for e in kinds(events, "agent.decided")]
    assert decided[-1]["escalated"] is True
    stats = c.agents.stats()["by_agent"]["peak_shaving"]
    assert stats["rejected"] == 3 and stats["accepted"] == 1 and stats["escalations"] == 1
    events.close()


PRED = Prediction(
    dispatch_id="d1", asset="bat1", setpoint_kw=200, predicted_feeder_kw=1100, verified_at=T0
)


@pytest.mark.parametrize(
    ("meter_kw", "mismatch"),
    [(1100, False), (1190, False), (1260, True), (950, True)],
)
def test_observe_table(meter_kw: float, mismatch: bool) -> None:
    cfg = ObserveConfig(tolerance_kw=100)
    obs = observe(
        PRED, snapshot({"substation.p_kw": meter_kw, "bat1.p_kw": 200}), "substation", cfg
    )
    assert obs is not None and obs.mismatch is mismatch


def test_observe_waits_for_readings_and_reads_the_recorded_prediction() -> None:
    cfg = ObserveConfig()
    assert observe(PRED, snapshot({"bat1.p_kw": 200}), "substation", cfg) is None
    simulated = {"twin_state": {"uncontrolled_net_kw": 1300.0}, "value": 200.0}
    pred = prediction("d1", simulated, "bat1", T0)
    assert pred is not None and pred.predicted_feeder_kw == 1100.0
    assert prediction("d1", {"value": 200.0}, "bat1", T0) is None  # a v1 record: no twin


def observe_with(action: str) -> Any:
    def adapt(cfg: SiteConfig) -> SiteConfig:
        # 1 kW: the feeder never lands exactly on the twin's persistence prediction
        observe_cfg = ObserveConfig(after_s=60, tolerance_kw=1, on_mismatch=action)
        return cfg.model_copy(update={"observe": observe_cfg})

    return adapt


@pytest.mark.integration
@pytest.mark.parametrize("action", ["alert", "revert"])
async def test_observation_mismatch_alerts_or_reverts_end_to_end(
    tmp_path: Path, action: str
) -> None:
    adapt = observe_with(action)
    async with rig(tmp_path, adapt=adapt, auto_approve_max_kw=400, two_person_min_kw=400) as r:
        await r.conductor.cycle(r.clock())
        first = r.conductor.dispatch_ids[0]
        assert kinds(r.events, "dispatch.verified")[0].dispatch_id == first
        r.clock.advance(timedelta(minutes=2))
        await wait_for(lambda: fresh(r, "substation.p_kw"), "meter telemetry at the new time")
        await wait_for(lambda: fresh(r, "bat1.p_kw"), "battery telemetry at the new time")
        await r.conductor.cycle(r.clock())
        (mismatch,) = kinds(r.events, "agent.observation_mismatch")
        assert mismatch.dispatch_id == first
        assert mismatch.payload["action"] == action
        assert mismatch.payload["setpoint_kw"] == 200.0
        gap = mismatch.payload["measured_feeder_kw"] - mismatch.payload["predicted_feeder_kw"]
        assert abs(gap) > 1
        reverted = [e for e in kinds(r.events, "dispatch.reverted") if e.dispatch_id == first]
        if action == "revert":
            (rev,) = reverted
            assert rev.payload["by"] == "agent:observe" and rev.payload["value"] == 0.0
            ledger = [c.key for c in r.field.ledger("bat1")]
            assert f"{first}-revert" in ledger
        else:
            assert reverted == []

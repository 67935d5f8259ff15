"""A cap reaches the battery: the demo feeder's virtual field on a real OPC UA server,
its conductor following an in-process controller over a real mosquitto, one clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runtime.config.model import ControllerHierarchyConfig, HierarchyConfig, SiteConfig
from runtime.hierarchy.controller import Controller
from runtime.hierarchy.follow import Mode
from runtime.log.eventlog import EventLog
from tests.integration.test_skeleton import rig, wait_for
from tests.support.mosquitto import Broker

pytestmark = pytest.mark.integration

EARLY = datetime(2026, 7, 15, 17, 0, tzinfo=UTC)  # demand below the 1,100 kW threshold
FEEDER_CAP_KW = 700.0


async def test_a_cap_below_the_local_threshold_is_dispatched_to_the_battery(
    mosquitto: Broker, tmp_path: Path
) -> None:
    broker = {"host": mosquitto.host, "port": mosquitto.port, "allow_insecure": True}

    def join(config: SiteConfig) -> SiteConfig:
        hierarchy = HierarchyConfig.model_validate({"broker": broker, "summary_every_s": 1})
        return config.model_copy(update={"hierarchy": hierarchy})

    async with rig(
        tmp_path, at=EARLY, adapt=join, auto_approve_max_kw=400, two_person_min_kw=400
    ) as r:
        link = r.conductor.link
        assert link is not None
        snapshot = r.conductor.state.snapshot()
        meter, battery = snapshot.get("substation.p_kw"), snapshot.get("bat1.p_kw")
        assert meter is not None and battery is not None
        demand_kw = meter.value + battery.value
        assert FEEDER_CAP_KW < demand_kw < 1100 - 15, "local config alone: nothing to do"
        await r.conductor.cycle(r.clock())
        assert r.conductor.dispatch_ids == []

        config = ControllerHierarchyConfig.model_validate(
            {
                "role": "controller",
                "broker": broker,
                "sites": ["demo-feeder"],
                "feeder_cap_kw": FEEDER_CAP_KW,
            }
        )
        ctl_events = EventLog(tmp_path / "controller.db")
        controller = Controller(config, ctl_events, r.clock)
        link.start()
        tasks = [
            asyncio.create_task(link.watch(r.conductor.state.snapshot, tick_s=0.05)),
            asyncio.create_task(controller.run(tick_s=0.05)),
        ]
        try:
            await wait_for(lambda: link.mode is Mode.COORDINATED, "the site following", 30)
            threshold = link.threshold_kw(r.config.policy.peak_shaving)
            assert threshold == FEEDER_CAP_KW  # one site, within its flexibility
            await r.conductor.cycle(r.clock())
        finally:
            controller.request_stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await link.close()
            ctl_events.close()

        (dispatch_id,) = r.conductor.dispatch_ids
        proposed = next(r.events.events(dispatch_id=dispatch_id, kinds=("dispatch.proposed",)))
        assert proposed.payload["inputs"]["threshold_kw"] == FEEDER_CAP_KW
        target_kw = round(demand_kw - FEEDER_CAP_KW)
        assert proposed.payload["command"]["value"] == target_kw
        ledger = r.field.ledger("bat1")
        assert [(c.key, c.value) for c in ledger] == [(dispatch_id, float(target_kw))]

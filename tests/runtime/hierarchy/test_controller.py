"""The controller's loop, message by message on a fixed clock (no broker: its
publications queue in the unconnected session and are not looked at here)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runtime.config.model import ControllerHierarchyConfig
from runtime.core.clock import FixedClock
from runtime.hierarchy.controller import Controller
from runtime.hierarchy.wire import SiteSummary, Status, status_topic, summary_topic
from runtime.log.eventlog import EventLog

T0 = datetime(2026, 7, 15, 18, 0, tzinfo=UTC)


@pytest.fixture
def ctl(tmp_path: Path) -> Iterator[Controller]:
    config = ControllerHierarchyConfig.model_validate(
        {
            "role": "controller",
            "broker": {"host": "127.0.0.1", "port": 1, "allow_insecure": True},
            "sites": ["north", "south"],
            "feeder_cap_kw": 1800,
            "summary_max_age_s": 60,
        }
    )
    events = EventLog(tmp_path / "controller.db")
    yield Controller(config, events, FixedClock(T0))
    events.close()


def summary(site: str, load_kw: float, at: datetime = T0) -> bytes:
    return SiteSummary(
        site=site,
        ts=at,
        seq=1,
        load_kw=load_kw,
        net_kw=load_kw,
        flexible_kw=250,
        soc_pct=80,
        health="ok",
        mode="starting",
        threshold_kw=1100,
        policy="peak_shaving",
    ).encode()


def allocations(ctl: Controller) -> list[dict[str, float]]:
    return [dict(e.payload["caps"]) for e in ctl.events.events(kinds=("hierarchy.caps_allocated",))]


def test_no_allocation_until_every_site_reported_or_the_warm_up_is_over(ctl: Controller) -> None:
    ctl.on_message(summary_topic("north"), summary("north", 1250))
    assert ctl.cycle(T0) is False
    ctl.on_message(summary_topic("south"), summary("south", 900))
    assert ctl.cycle(T0) is True
    assert allocations(ctl) == [{"north": 1075.0, "south": 725.0}]
    assert ctl.counts["caps"] == 2


def test_a_silent_site_gets_no_cap_and_its_last_load_is_reserved(ctl: Controller) -> None:
    ctl.on_message(summary_topic("north"), summary("north", 1250))
    ctl.on_message(summary_topic("south"), summary("south", 900, T0 + timedelta(seconds=61)))
    assert ctl.cycle(T0 + timedelta(seconds=61)) is True
    # north's summary is stale by then: no cap, its 1,250 kW reserved out of 1,800;
    # south (900 kW) would have to shed 350 kW and can shed 250 kW
    assert allocations(ctl) == [{"south": 650.0}]


def test_a_conductor_that_said_offline_gets_no_cap_and_its_load_is_reserved(
    ctl: Controller,
) -> None:
    ctl.on_message(summary_topic("north"), summary("north", 1250))
    ctl.on_message(summary_topic("south"), summary("south", 900))
    offline = Status(state="offline", ts=T0).encode()
    ctl.on_message(status_topic("south"), offline)
    ctl.cycle(T0)
    event = next(ctl.events.events(kinds=("hierarchy.caps_allocated",)))
    # 900 kW reserved for south: north (1,250 kW) must shed 350 kW, can shed 250 kW
    assert event.payload["caps"] == {"north": 1000.0}
    assert (event.payload["stale"], event.payload["infeasible"]) == (["south"], True)


def test_bad_or_misaddressed_summaries_are_counted_not_used(ctl: Controller) -> None:
    ctl.on_message(summary_topic("north"), b"{}")
    ctl.on_message(summary_topic("north"), summary("south", 900))
    ctl.on_message(summary_topic("east"), summary("east", 900))
    assert ctl.counts["summaries_rejected"] == 2
    assert ctl.counts["unknown_site"] == 1
    assert ctl.summaries == {}

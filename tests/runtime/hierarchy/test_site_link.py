"""A site's link on a real broker: bad, foreign or stale messages are refused and
recorded; a site that never hears a controller says so and stays on its own config."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from runtime.core.clock import WallClock
from runtime.demo.hierarchy import scripted_config
from runtime.hierarchy.follow import Mode
from runtime.hierarchy.site_link import SiteLink
from runtime.hierarchy.wire import (
    HEARTBEAT_TOPIC,
    Cap,
    Heartbeat,
    SiteSummary,
    cap_topic,
    decode,
    policy_topic,
    summary_topic,
)
from runtime.log.eventlog import EventLog
from safety import Quality, Reading, StateSnapshot
from tests.support.mosquitto import Broker

pytestmark = pytest.mark.integration


async def wait_for(predicate: Callable[[], Any], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def link_on(
    broker: Broker,
    tmp_path: Path,
    timeout_s: float,
    snapshot: Callable[[], StateSnapshot] | None = None,
) -> AsyncIterator[SiteLink]:
    hierarchy = {
        "broker": {"host": broker.host, "port": broker.port, "allow_insecure": True},
        "controller_timeout_s": timeout_s,
        "summary_every_s": 0.2,
    }
    events = EventLog(tmp_path / "site.db")
    link = SiteLink(scripted_config("north", hierarchy, cadence_s=1), events, WallClock())
    link.start()
    watch = asyncio.create_task(link.watch(snapshot, tick_s=0.05))
    try:
        await asyncio.wait_for(link.session.connected.wait(), 30)
        yield link
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
        await link.close()
        events.close()


def publisher(broker: Broker) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-publisher")
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def kinds(link: SiteLink, kind: str) -> list[dict[str, Any]]:
    return [dict(e.payload) for e in link.events.events(kinds=(kind,))]


async def test_a_site_that_never_hears_a_controller_says_so_and_keeps_its_threshold(
    mosquitto: Broker, tmp_path: Path
) -> None:
    async with link_on(mosquitto, tmp_path, timeout_s=0.5) as link:
        await wait_for(lambda: kinds(link, "hierarchy.controller_lost"), "the loss announced")
        (lost,) = kinds(link, "hierarchy.controller_lost")
        assert "no controller heartbeat since start" in lost["reason"]
        assert lost["threshold_kw"] == 1100
        assert link.mode is Mode.LOCAL
        local = link.config.policy.peak_shaving
        assert link.peak_shaving(local) is local


async def test_bad_foreign_and_stale_messages_are_refused_counted_and_kept(
    mosquitto: Broker, tmp_path: Path
) -> None:
    async with link_on(mosquitto, tmp_path, timeout_s=30) as link:
        now = link.clock()
        beat = Heartbeat(controller="controller", state="online", seq=1, ts=now)
        good = Cap(
            cap_kw=900,
            valid_until=now + timedelta(minutes=5),
            issued_at=now,
            seq=100,
            controller="controller",
        )
        rogue = good.model_copy(update={"controller": "rogue", "seq": 200, "cap_kw": 1})
        expired = good.model_copy(
            update={"seq": 300, "cap_kw": 1, "valid_until": now - timedelta(seconds=1)}
        )
        replayed = good.model_copy(update={"seq": 99, "cap_kw": 1})
        client = publisher(mosquitto)
        try:
            foreign = beat.model_copy(update={"controller": "rogue"})
            for heartbeat in (b"[]", foreign.encode(), beat.encode()):
                client.publish(HEARTBEAT_TOPIC, heartbeat, qos=1).wait_for_publish(10)
            for payload in (b"{not json", rogue.encode(), expired.encode(), good.encode()):
                client.publish(cap_topic("north"), payload, qos=1).wait_for_publish(10)
            await wait_for(lambda: link.mode is Mode.COORDINATED, "the good cap obeyed")
            client.publish(cap_topic("north"), replayed.encode(), qos=1).wait_for_publish(10)
            client.publish(policy_topic("north"), b'{"v": 1, "policy": "deep_rl"}', qos=1)
            await wait_for(lambda: link.counts["policies_rejected"] == 1, "the push refused")
            await wait_for(lambda: link.counts["caps_rejected"] == 4, "four caps refused")
        finally:
            client.loop_stop()
            client.disconnect()
        assert link.threshold_kw(link.config.policy.peak_shaving) == 900
        assert link.counts["heartbeats_rejected"] == 2
        refused = kinds(link, "hierarchy.cap_rejected")
        reasons = [r["reason"] for r in refused]
        assert reasons[0].startswith("Cap v1: (payload): Invalid JSON")
        assert refused[0]["raw"] == "{not json"
        assert "'rogue'" in reasons[1]
        assert "expired" in reasons[2]
        assert "seq 99 is not newer than seq 100" in reasons[3]
        (push,) = kinds(link, "hierarchy.policy_rejected")
        assert "policy 'deep_rl' is not known" in push["reason"]
        assert link.in_use.policy == "peak_shaving"


async def test_between_cycles_the_site_still_reports_its_summary(
    mosquitto: Broker, tmp_path: Path
) -> None:
    clock = WallClock()
    soc_pct = 80.0

    def snapshot() -> StateSnapshot:
        now = clock()
        values = {"substation.p_kw": 1000.0, "bat1.p_kw": 120.0, "bat1.soc_pct": soc_pct}
        return StateSnapshot(
            readings={
                p: Reading(point=p, value=v, ts=now, quality=Quality.GOOD)
                for p, v in values.items()
            }
        )

    received: list[SiteSummary | str] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-controller")
    client.on_message = lambda _c, _u, m: received.append(decode(SiteSummary, bytes(m.payload)))
    client.connect(mosquitto.host, mosquitto.port)
    client.subscribe(summary_topic("north"), qos=1)
    client.loop_start()
    try:
        async with link_on(mosquitto, tmp_path, timeout_s=30, snapshot=snapshot):
            await wait_for(lambda: len(received) >= 2, "two summaries")
            soc_pct = 9.0  # below the battery's 10 % minimum: no flexibility left
            await wait_for(
                lambda: any(isinstance(r, SiteSummary) and r.soc_pct == 9.0 for r in received),
                "a summary with the low SoC",
            )
    finally:
        client.loop_stop()
        client.disconnect()
    first, later = received[0], received[-1]
    assert isinstance(first, SiteSummary) and isinstance(later, SiteSummary)
    assert (first.site, first.load_kw, first.net_kw) == ("north", 1120.0, 1000.0)
    assert (first.flexible_kw, first.health, first.mode) == (250.0, "ok", "starting")
    assert (first.threshold_kw, first.policy, first.cap_kw) == (1100.0, "peak_shaving", None)
    assert later.flexible_kw == 0.0 and later.seq > first.seq

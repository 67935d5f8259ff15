"""Hierarchy benchmarks, each next to a baseline measured in the same run.

- cap round trip: the controller's session publishes a cap, a site's link receives,
  validates and obeys it (median latency), next to raw paho publish -> on_message
  on the same mosquitto: the cost of the hierarchy's checks on top of the broker.
- allocation: ``plan()`` over 1,000 site summaries, next to decoding those 1,000
  summaries from JSON (what the controller must do anyway before allocating).
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.util import row
from connectors.mqtt.wire import Publish
from runtime.config.model import BrokerConfig
from runtime.core.clock import WallClock
from runtime.demo.hierarchy import scripted_config
from runtime.hierarchy.allocate import plan
from runtime.hierarchy.mqtt import Session
from runtime.hierarchy.site_link import SiteLink
from runtime.hierarchy.wire import HEARTBEAT_TOPIC, Cap, Heartbeat, SiteSummary, cap_topic
from runtime.log.eventlog import EventLog
from tests.support.mosquitto import Broker, running_broker

ROUND_TRIPS = 300
SITES = 1000


def _raw_round_trip_s(broker: Broker, n: int) -> list[float]:
    got = threading.Event()
    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw-sub")
    sub.on_message = lambda _c, _u, _m: got.set()
    sub.connect(broker.host, broker.port)
    sub.subscribe("bench/raw", qos=1)
    sub.loop_start()
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw-pub")
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    time.sleep(0.5)  # both sessions up (setup, not measured)
    out = []
    payload = b'{"v":1,"cap_kw":900.0}'
    for _ in range(n):
        got.clear()
        t0 = time.perf_counter()
        pub.publish("bench/raw", payload, qos=1)
        got.wait(5)
        out.append(time.perf_counter() - t0)
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
    return out


async def _link_round_trip_s(broker: Broker, n: int, tmp: Path, *, vary: bool) -> list[float]:
    hierarchy = {
        "broker": {"host": broker.host, "port": broker.port, "allow_insecure": True},
        "controller_timeout_s": 60,
    }
    clock = WallClock()
    events = EventLog(tmp / f"site-{vary}.db")
    link = SiteLink(scripted_config("north", hierarchy, cadence_s=1), events, clock)
    link.start()
    controller = Session(
        BrokerConfig(host=broker.host, port=broker.port, allow_insecure=True),
        client_id="bench-controller",
        will=Publish(HEARTBEAT_TOPIC, b"", retain=False),
        subscriptions=[],
        on_message=lambda _t, _p: None,
    )
    controller.start()
    await asyncio.wait_for(link.session.connected.wait(), 10)
    await asyncio.wait_for(controller.connected.wait(), 10)
    obeyed = asyncio.Event()

    def on_message(topic: str, payload: bytes) -> None:
        link.on_message(topic, payload)
        obeyed.set()

    link.session._on_message = on_message  # wake the measuring loop, no polling
    beat = Heartbeat(controller="controller", state="online", seq=1, ts=clock())
    controller.publish(Publish(HEARTBEAT_TOPIC, beat.encode()))
    out = []
    for seq in range(1, n + 1):
        now = clock()
        cap = Cap(
            cap_kw=900.0 + (seq % 7 if vary else 0),  # vary: a durable event per cap
            valid_until=now + timedelta(minutes=3),
            issued_at=now,
            seq=seq,
            controller="controller",
        )
        obeyed.clear()
        t0 = time.perf_counter()
        controller.publish(Publish(cap_topic("north"), cap.encode()))
        while link.link.last_seq < seq:
            await asyncio.wait_for(obeyed.wait(), 5)
            obeyed.clear()
        out.append(time.perf_counter() - t0)
    await controller.stop()
    await link.close()
    events.close()
    return out


def _summaries(n: int) -> list[bytes]:
    now = datetime.now(UTC)
    return [
        SiteSummary(
            site=f"s{i}",
            ts=now,
            seq=i,
            load_kw=500.0 + i % 400,
            net_kw=500.0,
            flexible_kw=float(i % 250),
            soc_pct=70.0,
            health="ok",
            mode="coordinated",
            threshold_kw=1100,
            policy="peak_shaving",
        ).encode()
        for i in range(n)
    ]


def run() -> list[dict[str, Any]]:
    rows = []
    with TemporaryDirectory() as tmp, running_broker(Path(tmp) / "mosquitto") as broker:
        raw = _raw_round_trip_s(broker, ROUND_TRIPS)
        steady = asyncio.run(_link_round_trip_s(broker, ROUND_TRIPS, Path(tmp), vary=False))
        varied = asyncio.run(_link_round_trip_s(broker, ROUND_TRIPS, Path(tmp), vary=True))
    for name, ours, note in (
        ("hierarchy.cap_round_trip_median", steady, "same cap each time: decode and checks"),
        (
            "hierarchy.cap_round_trip_new_threshold_median",
            varied,
            "each cap changes the threshold: plus an fsync'd hierarchy.cap_applied event",
        ),
    ):
        rows.append(
            row(
                name,
                statistics.median(ours) * 1000,
                "ms",
                statistics.median(raw) * 1000,
                higher_is_better=False,
                note=f"controller session -> site link obeys ({note}) vs raw paho",
            )
        )
    payloads = _summaries(SITES)
    t0 = time.perf_counter()
    summaries = {s.site: s for s in (SiteSummary.model_validate_json(p) for p in payloads)}
    decode_s = time.perf_counter() - t0
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    allocation = plan(summaries, 400_000.0, now)
    plan_s = time.perf_counter() - t0
    assert len(allocation.caps) == SITES
    rows.append(
        row(
            "hierarchy.allocate_1000_sites",
            plan_s * 1000,
            "ms",
            decode_s * 1000,
            higher_is_better=False,
            note="plan() vs decoding the same 1,000 summaries",
        )
    )
    return rows

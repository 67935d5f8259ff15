"""The global controller: collects site summaries, allocates the feeder cap, pushes policy.

Slow loop (``cadence_s``, minutes in production): ``allocate`` over the fresh
summaries, one cap per site (``valid_until = now + cap_valid_s``). A heartbeat
every ``heartbeat_s`` (retained), and a retained ``offline`` heartbeat as the last
will, so conductors learn at once when this process dies. Policy pushes are
retained and re-sent on every (re)connect.

``seq`` starts at the start time in milliseconds since the epoch and increases by
one per cap, so a restarted controller continues above its predecessor and the
conductors (which accept only increasing ``seq``) follow it without a reset.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime, timedelta

from connectors.mqtt.wire import Publish
from runtime.config.model import ControllerHierarchyConfig, PolicyPushConfig
from runtime.core.clock import Clock
from runtime.hierarchy.allocate import plan
from runtime.hierarchy.mqtt import Session
from runtime.hierarchy.wire import (
    HEARTBEAT_TOPIC,
    STATUS_FILTER,
    SUMMARY_FILTER,
    Cap,
    Heartbeat,
    PolicyPush,
    SiteSummary,
    Status,
    cap_topic,
    decode,
    policy_topic,
    site_of,
)
from runtime.log import events as ev
from runtime.log.eventlog import EventLog

log = logging.getLogger(__name__)


class Controller:
    def __init__(self, config: ControllerHierarchyConfig, events: EventLog, clock: Clock) -> None:
        self.config = config
        self.events = events
        self.clock = clock
        self.summaries: dict[str, SiteSummary] = {}
        self.offline: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.caps: dict[str, float] = {}
        self._seq = int(clock().timestamp() * 1000)
        self._beat = 0
        self._stopping = False
        self._started_at = clock()
        self._warm = False
        self.session = Session(
            config.broker,
            client_id=f"gridaios-{config.id}",
            will=self._heartbeat("offline"),
            subscriptions=[SUMMARY_FILTER, STATUS_FILTER],
            on_message=self.on_message,
            on_connect=self._on_connect,
        )

    async def run(self, until: datetime | None = None, *, tick_s: float = 0.1) -> None:
        cadence = timedelta(seconds=self.config.cadence_s)
        beat_every = timedelta(seconds=self.config.heartbeat_s)
        self.session.start()
        log.info(
            "controller %s: %d site(s), feeder cap %g kW, via %s:%d",
            self.config.id,
            len(self.config.sites),
            self.config.feeder_cap_kw,
            self.config.broker.host,
            self.config.broker.port,
        )
        try:
            while not self.session.connected.is_set() and not self._stopping:
                await asyncio.sleep(tick_s)  # paho retries with back-off meanwhile
            next_cycle = next_beat = self.clock()
            while not self._stopping and (until is None or self.clock() < until):
                now = self.clock()
                if now >= next_beat:
                    self.session.publish(self._heartbeat("online"))
                    next_beat = now + beat_every
                if now >= next_cycle and self.cycle(now):
                    next_cycle = now + cadence
                await asyncio.sleep(tick_s)
        finally:
            await self.session.stop(farewell=self._heartbeat("offline"))

    def request_stop(self) -> None:
        """Graceful stop: publish ``offline`` (retained) and disconnect."""
        self._stopping = True

    def cycle(self, now: datetime) -> bool:
        """One allocation: caps to every site with a fresh summary (False: still warming up).

        Warm-up: right after a (re)start the controller has not heard every site yet,
        and a site it has never heard from has no load to reserve. It allocates once
        every site has reported, or ``summary_max_age_s`` after the start.
        """
        if not self._warm:
            waiting = [s for s in self.config.sites if s not in self.summaries]
            if waiting and now - self._started_at < timedelta(
                seconds=self.config.summary_max_age_s
            ):
                return False
            self._warm = True
            if waiting:
                log.warning(
                    "controller %s: no summary from %s since start; allocating without them",
                    self.config.id,
                    ", ".join(waiting),
                )
        known = {s: self.summaries[s] for s in self.config.sites if s in self.summaries}
        allocation = plan(
            known,
            self.config.feeder_cap_kw,
            now,
            max_age=timedelta(seconds=self.config.summary_max_age_s),
            gone=self.offline,  # conductors that said offline: stale, their load reserved
        )
        valid_until = now + timedelta(seconds=self.config.cap_valid_s)
        for site, cap_kw in allocation.caps.items():
            self._seq += 1
            cap = Cap(
                cap_kw=cap_kw,
                valid_until=valid_until,
                issued_at=now,
                seq=self._seq,
                controller=self.config.id,
            )
            self.session.publish(Publish(cap_topic(site), cap.encode()))
            self.counts["caps"] += 1
        if allocation.caps != self.caps or allocation.infeasible:
            if allocation.infeasible:
                log.warning(
                    "controller %s: the sites cannot shed %g kW (flexible %g kW); "
                    "the feeder cap %g kW will be exceeded",
                    self.config.id,
                    allocation.reduction_kw,
                    allocation.flexible_kw,
                    allocation.feeder_cap_kw,
                )
            self.events.append_event(
                ev.HierarchyCapsAllocated(
                    controller=self.config.id,
                    caps=allocation.caps,
                    feeder_cap_kw=allocation.feeder_cap_kw,
                    load_kw=allocation.load_kw,
                    reserved_kw=allocation.reserved_kw,
                    reduction_kw=allocation.reduction_kw,
                    flexible_kw=allocation.flexible_kw,
                    infeasible=allocation.infeasible,
                    stale=allocation.stale,
                    valid_until=valid_until,
                ),
                ts=now,
            )
        self.caps = allocation.caps
        return True

    # --- messages (on the event loop's thread) --------------------------------

    def on_message(self, topic: str, payload: bytes) -> None:
        site = site_of(topic)
        if site is None or site not in self.config.sites:
            self.counts["unknown_site"] += 1
            return
        if topic.endswith("/conductor/status"):
            status = decode(Status, payload)
            if isinstance(status, Status):
                if status.state == "offline":
                    self.offline.add(site)
                else:
                    self.offline.discard(site)
            return
        summary = decode(SiteSummary, payload)
        if isinstance(summary, str) or summary.site != site:
            self.counts["summaries_rejected"] += 1
            reason = summary if isinstance(summary, str) else f"site {summary.site!r} on {topic}"
            log.warning("controller %s: refused a summary on %s: %s", self.config.id, topic, reason)
            return
        self.counts["summaries"] += 1
        self.summaries[site] = summary

    def _on_connect(self) -> None:
        self.session.publish(self._heartbeat("online"))
        for site in self.config.sites:
            push = self.config.site_policies.get(site, self.config.policy)
            if push is not None:
                self._push(site, push)

    def _push(self, site: str, push: PolicyPushConfig) -> None:
        body = PolicyPush(policy=push.policy, params=push.params, models=push.models)
        self.session.publish(Publish(policy_topic(site), body.encode(), retain=True))
        self.events.append_event(
            ev.HierarchyPolicyPushed(
                controller=self.config.id,
                site=site,
                policy=push.policy,
                params=push.params,
                models=push.models,
            ),
            ts=self.clock(),
        )

    def _heartbeat(self, state: str) -> Publish:
        self._beat += 1
        beat = Heartbeat(
            controller=self.config.id,
            state="online" if state == "online" else "offline",
            seq=self._beat,
            ts=self.clock(),
        )
        return Publish(HEARTBEAT_TOPIC, beat.encode(), retain=True)

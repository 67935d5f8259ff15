"""The conductor's side of the hierarchy: summaries out; caps, heartbeats and pushes in.

The conductor asks ``peak_shaving(local, now)`` each cycle for the policy config to
use (its own, or with the threshold lowered by a fresh cap) and calls
``publish_summary`` after deciding. ``watch()`` re-checks the controller's
liveness between cycles, so a loss is noticed (event + WARNING) within the
timeout even when cycles are minutes apart. Bad or unknown messages are refused
with a reason, counted and recorded (with the raw payload); nothing here raises
into the conductor.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from connectors.mqtt.wire import Publish
from runtime.config.model import HierarchyConfig, PeakShavingConfig, SiteConfig
from runtime.core.clock import Clock
from runtime.hierarchy import follow
from runtime.hierarchy.mqtt import Session
from runtime.hierarchy.summary import summarize
from runtime.hierarchy.wire import (
    HEARTBEAT_TOPIC,
    Cap,
    Heartbeat,
    PolicyPush,
    Status,
    cap_topic,
    decode,
    policy_topic,
    status_topic,
    summary_topic,
)
from runtime.log import events as ev
from runtime.log.eventlog import EventLog
from safety import StateSnapshot

log = logging.getLogger(__name__)
RAW_KEPT = 2000  # characters of a refused payload kept in its event


class SiteLink:
    def __init__(self, config: SiteConfig, events: EventLog, clock: Clock) -> None:
        if config.hierarchy is None:
            raise ValueError("SiteLink needs a hierarchy: block in the site config")
        self.config = config
        self.h: HierarchyConfig = config.hierarchy
        self.site = self.h.site or config.site.id
        self.events = events
        self.clock = clock
        self.timeout = timedelta(seconds=self.h.controller_timeout_s)
        self.link = follow.Link(started_at=clock())
        self.in_use = follow.PolicyInUse(policy=self.h.known_policies[0])
        self.counts: Counter[str] = Counter()
        self._seq = 0
        self._summarized_at = datetime.min.replace(tzinfo=UTC)
        self._applied: tuple[int, float] | None = None  # (cap seq, threshold) last recorded
        self.session = Session(
            self.h.broker,
            client_id=f"gridaios-{self.site}-conductor",
            will=self._status("offline"),
            subscriptions=[HEARTBEAT_TOPIC, cap_topic(self.site), policy_topic(self.site)],
            on_message=self.on_message,
            on_connect=self._announce,
        )

    @property
    def mode(self) -> follow.Mode:
        return self.link.mode

    # --- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        self.session.start()
        log.info(
            "hierarchy: site %s follows controller %s via %s:%d (local config until heard)",
            self.site,
            self.h.controller,
            self.h.broker.host,
            self.h.broker.port,
        )

    async def close(self) -> None:
        await self.session.stop(farewell=self._status("offline"))

    async def watch(
        self, snapshot: Callable[[], StateSnapshot] | None = None, tick_s: float = 0.5
    ) -> None:
        """Re-check the controller's liveness between cycles, forever; with ``snapshot``,
        also publish a summary whenever none went out for ``summary_every_s`` (decision
        cycles can be minutes apart; the controller must not think the site is gone)."""
        every = timedelta(seconds=self.h.summary_every_s)
        while True:
            self.check()
            if snapshot is not None and self.clock() - self._summarized_at >= every:
                self.publish_summary(snapshot())
            await asyncio.sleep(tick_s)

    # --- what the conductor calls --------------------------------------------

    def peak_shaving(self, local: PeakShavingConfig) -> PeakShavingConfig:
        """The policy config for this cycle: the local one, tightened by the push and cap."""
        self.check()
        threshold = self.threshold_kw(local)
        if threshold == local.threshold_kw:
            return local
        return local.model_copy(update={"threshold_kw": threshold})

    def threshold_kw(self, local: PeakShavingConfig) -> float:
        base = local.threshold_kw
        if self.in_use.threshold_kw is not None:
            base = min(base, self.in_use.threshold_kw)
        return follow.threshold_kw(self.link, base, self.h.min_threshold_kw)

    def publish_summary(self, snapshot: StateSnapshot) -> None:
        if not self.session.connected.is_set():
            self.counts["summaries_dropped"] += 1  # the watcher sends one once connected
            return
        now = self.clock()
        summary = summarize(
            self.config,
            snapshot,
            site=self.site,
            link=self.link,
            threshold_kw=self.threshold_kw(self.config.policy.peak_shaving),
            in_use=self.in_use,
            seq=self._seq,
            now=now,
        )
        self._seq += 1
        if self.session.publish(Publish(summary_topic(self.site), summary.encode())):
            self.counts["summaries"] += 1
            self._summarized_at = now
        else:
            self.counts["summaries_dropped"] += 1

    # --- liveness -------------------------------------------------------------

    def check(self) -> None:
        now = self.clock()
        self.link, change = follow.check(self.link, self.timeout, now)
        match change:
            case follow.Lost(reason):
                self.counts["controller_lost"] += 1
                self._applied = None
                # The local config (tightened by an accepted push, if any: never looser).
                local_kw = self.threshold_kw(self.config.policy.peak_shaving)
                log.warning(
                    "hierarchy: site %s lost controller %s (%s): back to the local config, "
                    "threshold %g kW",
                    self.site,
                    self.h.controller,
                    reason,
                    local_kw,
                )
                self.events.append_event(
                    ev.HierarchyControllerLost(
                        site=self.site, reason=reason, threshold_kw=local_kw
                    ),
                    ts=now,
                )
            case follow.Back(cap_kw):
                self.counts["controller_back"] += 1
                threshold = self.threshold_kw(self.config.policy.peak_shaving)
                log.warning(
                    "hierarchy: site %s follows controller %s again: cap %g kW, threshold %g kW",
                    self.site,
                    self.h.controller,
                    cap_kw,
                    threshold,
                )
                self.events.append_event(
                    ev.HierarchyControllerBack(
                        site=self.site, cap_kw=cap_kw, threshold_kw=threshold
                    ),
                    ts=now,
                )
            # None: the controller is as it was (still there, or still gone)
        self._record_applied()

    def _record_applied(self) -> None:
        cap = self.link.cap
        if self.link.mode is not follow.Mode.COORDINATED or cap is None:
            return
        threshold = self.threshold_kw(self.config.policy.peak_shaving)
        if self._applied is not None and self._applied[1] == threshold:
            return
        self._applied = (cap.seq, threshold)
        self.events.append_event(
            ev.HierarchyCapApplied(
                site=self.site,
                cap_kw=cap.cap_kw,
                threshold_kw=threshold,
                seq=cap.seq,
                valid_until=cap.valid_until,
            ),
            ts=self.clock(),
        )

    # --- messages (on the event loop's thread) --------------------------------

    def on_message(self, topic: str, payload: bytes) -> None:
        if topic == HEARTBEAT_TOPIC:
            self._on_heartbeat(payload)
        elif topic == cap_topic(self.site):
            self._on_cap(payload)
        elif topic == policy_topic(self.site):
            self._on_policy(payload)

    def _on_heartbeat(self, payload: bytes) -> None:
        beat = decode(Heartbeat, payload)
        out = (
            follow.Refused(beat)
            if isinstance(beat, str)
            else follow.on_heartbeat(self.link, beat, self.h.controller, self.clock())
        )
        if isinstance(out, follow.Link):
            self.link = out
            self.check()
            return
        # Heartbeats come every few seconds: count them all, log the first (with its
        # raw payload), record none in the event log.
        self.counts["heartbeats_rejected"] += 1
        if self.counts["heartbeats_rejected"] == 1:
            log.warning(
                "hierarchy: site %s ignores a heartbeat: %s (payload %s)",
                self.site,
                out.reason,
                _raw(payload)[:200],
            )

    def _on_cap(self, payload: bytes) -> None:
        now = self.clock()
        cap = decode(Cap, payload)
        if isinstance(cap, str):
            self._refuse_cap(cap, payload)
            return
        self.link, verdict = follow.on_cap(self.link, cap, self.h.controller, now)
        if isinstance(verdict, follow.Refused):
            self._refuse_cap(verdict.reason, payload)
            return
        self.counts["caps_accepted"] += 1
        self.check()

    def _refuse_cap(self, reason: str, payload: bytes) -> None:
        self.counts["caps_rejected"] += 1
        log.warning("hierarchy: site %s refused a cap: %s", self.site, reason)
        self.events.append_event(
            ev.HierarchyCapRejected(site=self.site, reason=reason, raw=_raw(payload)),
            ts=self.clock(),
        )

    def _on_policy(self, payload: bytes) -> None:
        now = self.clock()
        if not payload:
            return  # a retained push was cleared: keep what is in use
        push = decode(PolicyPush, payload)
        outcome: follow.PolicyInUse | follow.Refused
        if isinstance(push, str):
            outcome = follow.Refused(push)
        else:
            outcome = follow.on_policy(
                push,
                known_policies=self.h.known_policies,
                known_models=self.h.known_models,
                local_threshold_kw=self.config.policy.peak_shaving.threshold_kw,
            )
        if isinstance(outcome, follow.Refused):
            self.counts["policies_rejected"] += 1
            log.warning("hierarchy: site %s refused a policy push: %s", self.site, outcome.reason)
            self.events.append_event(
                ev.HierarchyPolicyRejected(
                    site=self.site, reason=outcome.reason, raw=_raw(payload)
                ),
                ts=now,
            )
            return
        self.counts["policies_accepted"] += 1
        if outcome == self.in_use:
            return  # the same push again (retained, or a restarted controller)
        self.in_use = outcome
        log.info(
            "hierarchy: site %s runs policy %s, models %s",
            self.site,
            outcome.policy,
            outcome.models,
        )
        self.events.append_event(
            ev.HierarchyPolicyAccepted(
                site=self.site,
                policy=outcome.policy,
                threshold_kw=outcome.threshold_kw,
                models=outcome.models,
            ),
            ts=now,
        )
        self._record_applied()

    def _announce(self) -> None:
        self.session.publish(self._status("online"))

    def _status(self, state: str) -> Publish:
        body = Status(state="online" if state == "online" else "offline", ts=self.clock())
        return Publish(status_topic(self.site), body.encode(), retain=True)


def _raw(payload: bytes) -> str:
    return payload[:RAW_KEPT].decode("utf-8", errors="replace")

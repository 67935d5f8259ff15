"""The agent set: perceive -> decide -> (conductor) act -> observe, once per conductor cycle.

Built from the ``agents:`` block of the site config. Runners go in priority order
(anomaly, operator intent, DR events, PV curtailment, peak shaving); the first
proposal for an asset in a cycle wins, and an anomaly hold drops the automatic
agents' proposals for the held assets (an operator's request still goes through).
Each proposal goes to ``Conductor.handle`` (gate -> simulator/grid check ->
approvals -> outbox); its outcome feeds the runner's acceptance rate and
escalation. Every step that proposed, flagged, failed or fell back is an
``agent.decided`` event.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from runtime.agents.anomaly import AnomalyAgent, Scorer, onnx_scorer, zscore_scorer
from runtime.agents.base import AgentRunner, Perception, Step
from runtime.agents.dr import DrAccepted, DrAgent, DrEvent, DrInbox, accept_dr_event
from runtime.agents.dr_mqtt import DrSubscriber, dr_topic
from runtime.agents.intent import OperatorIntentAgent, OperatorRequest
from runtime.agents.intent import requested as intent_requests
from runtime.agents.observer import Observer
from runtime.agents.peak import UNCONTROLLED, Forecaster, ForecastPeakAgent, RulePeakAgent
from runtime.agents.peak import seasonal_naive_forecast as default_forecaster
from runtime.agents.pv import PvCurtailAgent
from runtime.config.model import (
    BatteryAsset,
    CurtailableLoadAsset,
    PvAsset,
    SiteConfig,
    anomaly_points,
)
from runtime.config.site import point_id
from runtime.decide.policy import Proposal
from runtime.log import events as ev
from safety import CommandKind, StateSnapshot

if TYPE_CHECKING:
    from runtime.conductor.loop import Conductor

log = logging.getLogger(__name__)

HOLD_EXEMPT = frozenset({"anomaly", "operator_intent"})  # may act on a held asset
HISTORY = timedelta(hours=30)


@dataclass(frozen=True, slots=True)
class Factories:
    """Model entry points, injectable so tests can make one fail for real."""

    forecaster: Forecaster = default_forecaster
    anomaly_model: Any = None  # () -> Scorer; default: the shipped ONNX detector


def build_runners(config: SiteConfig, factories: Factories | None = None) -> list[AgentRunner]:
    """The enabled agents' runners in priority order, with their tiers, cadence, confidence
    threshold and fallback as the config sets them (the conductor's and a shadow side's)."""
    made = factories or Factories()
    agents = config.agents
    base_s = config.policy.peak_shaving.cadence_s
    esc = agents.escalate_after_rejections

    def runner(name: str, cfg: Any, tiers: list[Any], fallback: Any = None) -> AgentRunner:
        return AgentRunner(
            name,
            tiers,
            cadence=timedelta(seconds=cfg.cadence_s or base_s),
            min_confidence=cfg.min_confidence,
            fallback=fallback,
            escalate_after=esc,
        )

    runners: list[AgentRunner] = []
    if agents.anomaly.enabled:
        int8 = agents.anomaly.int8
        model: Any = made.anomaly_model or (lambda: onnx_scorer(int8=int8))
        rule: Any = zscore_scorer
        tiers = [AnomalyAgent("anomaly_onnx", model), AnomalyAgent("anomaly_zscore", rule)]
        runners.append(runner("anomaly", agents.anomaly, tiers))
    if agents.operator_intent.enabled:
        runners.append(runner("operator_intent", agents.operator_intent, [OperatorIntentAgent()]))
    if agents.dr_events.enabled:
        runners.append(runner("dr_events", agents.dr_events, [DrAgent()]))
    pv = agents.pv_curtailment
    if pv is not None and pv.enabled:
        runners.append(runner("pv_curtailment", pv, [PvCurtailAgent()]))
    peak = agents.peak_shaving
    if peak.enabled:
        rule_peak = RulePeakAgent()
        ladder: list[Any] = [rule_peak]
        if peak.forecast:
            ladder = [ForecastPeakAgent(made.forecaster), rule_peak]
        runners.append(runner("peak_shaving", peak, ladder, fallback=rule_peak))
    return runners


def observed(snapshot: StateSnapshot, config: SiteConfig) -> dict[str, float]:
    """What one cycle adds to the agents' history: the meter, the peak battery's power and
    SoC, the anomaly points, and the uncontrolled load (meter plus battery output)."""
    points = {point_id(config.feeder.meter, "p_kw"), *anomaly_points(config)}
    battery = config.policy.peak_shaving.battery
    points |= {point_id(battery, "p_kw"), point_id(battery, "soc_pct")}
    out: dict[str, float] = {}
    for point in points:
        reading = snapshot.get(point)
        if reading is not None:
            out[point] = reading.value
    meter = snapshot.get(point_id(config.feeder.meter, "p_kw"))
    output = snapshot.get(point_id(battery, "p_kw"))
    if meter is not None and output is not None:
        out[UNCONTROLLED] = meter.value + output.value
    return out


def history_width(tick: timedelta) -> int:
    """Samples of each point the agents keep: 30 h at one per cycle (at most 20,000)."""
    return min(int(HISTORY / max(tick, timedelta(seconds=1))) + 1, 20_000)


class AgentSet:
    def __init__(self, conductor: Conductor, factories: Factories | None = None) -> None:
        self.c = conductor
        config = conductor.config
        made = factories or Factories()
        base_s = config.policy.peak_shaving.cadence_s
        self.runners = build_runners(config, made)
        # The conductor cycles at the fastest agent's cadence; observations are checked on
        # each cycle once ``observe.after_s`` has passed.
        self.tick = min((r.cadence for r in self.runners), default=timedelta(seconds=base_s))
        width = history_width(self.tick)
        self.history: dict[str, deque[tuple[datetime, float]]] = {}
        self._history_width = width
        self.inbox = DrInbox()
        self.dr_events: dict[str, DrEvent] = {}
        self.dr_counts = {"accepted": 0, "rejected": 0}
        self.requests: list[OperatorRequest] = []
        self.holds: dict[str, datetime] = {}
        self.observer = Observer(conductor)
        self._started = False
        self._request_seq = 0  # operator requests in the log up to here are queued
        self.subscriber: DrSubscriber | None = None

    # --- lifecycle --------------------------------------------------------------

    def start(self) -> None:
        dr = self.c.config.agents.dr_events
        if dr.enabled and dr.mqtt is not None:
            site_id = self.c.config.site.id
            self.subscriber = DrSubscriber(
                self.inbox,
                host=dr.mqtt.host,
                port=dr.mqtt.port,
                topic=dr.mqtt.topic or dr_topic(site_id),
                client_id=f"gridaios-dr-{site_id}",
            )
            self.subscriber.start()

    def stop(self) -> None:
        if self.subscriber is not None:
            self.subscriber.stop()
            self.subscriber = None

    # --- inputs from outside the loop ------------------------------------------

    def submit_dr(self, raw: bytes, via: str = "api") -> None:
        """A DR payload from any thread; checked and recorded on the next cycle."""
        self.inbox.put(raw, via)

    def submit_request(self, request: OperatorRequest) -> None:
        self.requests.append(request)

    # --- one cycle --------------------------------------------------------------

    async def cycle(self, now: datetime, *, due_only: bool = False) -> None:
        c = self.c
        if not self._started:
            self._started = True
            self.observer.start_at(c.events.head()[0])  # dispatches from this run on
            self._seed(now)
        snapshot = c.state.snapshot()
        self._record(snapshot, now)
        self._drain_dr(now)
        if c.config.agents.operator_intent.enabled:
            for seq, req in intent_requests(c.events, self._request_seq):
                self._request_seq = seq
                self.requests.append(req)
        await self.observer.step(snapshot, now)
        self.holds = {a: t for a, t in self.holds.items() if t > now}
        claimed: set[str] = set()
        decide_with = c.decision_config()  # the promoted policy, under a controller's cap
        for runner in self.runners:
            if due_only and not runner.due(now):
                continue
            perception = self.perceive(snapshot, now)
            step = runner.step(perception, decide_with, now)
            for flag in step.decision.flags:
                for asset in flag.hold_assets:
                    if flag.hold_until is not None:
                        self.holds[asset] = max(self.holds.get(asset, now), flag.hold_until)
                c.events.append_event(
                    ev.AgentFlagged(
                        agent=runner.name,
                        subject=flag.subject,
                        reason=flag.reason,
                        score=flag.score,
                        threshold=flag.threshold,
                        hold_assets=list(flag.hold_assets),
                        hold_until=flag.hold_until,
                    ),
                    ts=now,
                )
            ids, skipped = await self._act(runner, step, snapshot, now, claimed)
            if runner.name == "operator_intent":
                done = {r.request_id for r in perception.requests}
                self.requests = [r for r in self.requests if r.request_id not in done]
            if ids or skipped or step.fallback or step.errors or step.decision.flags:
                rationale = step.decision.rationale
                if skipped:
                    rationale = f"{rationale}; not handled: {'; '.join(skipped)}"
                c.events.append_event(
                    ev.AgentDecided(
                        agent=runner.name,
                        tier=step.tier,
                        confidence=step.decision.confidence,
                        rationale=rationale,
                        proposals=ids,
                        fallback=step.fallback,
                        errors=list(step.errors),
                        escalated=step.escalated,
                        proposer=", ".join(sorted({p.proposer for p in step.decision.proposals}))
                        if any(p.proposer for p in step.decision.proposals)
                        else "",
                    ),
                    ts=now,
                )

    async def _act(
        self,
        runner: AgentRunner,
        step: Step,
        snapshot: StateSnapshot,
        now: datetime,
        claimed: set[str],
    ) -> tuple[list[str], list[str]]:
        c = self.c
        ids: list[str] = []
        skipped: list[str] = []
        for proposal in step.decision.proposals:
            asset = proposal.command.asset
            if asset in claimed:
                skipped.append(f"{asset} already has a higher-priority proposal this cycle")
                continue
            if asset in self.holds and runner.name not in HOLD_EXEMPT:
                skipped.append(f"{asset} is held by an anomaly until {self.holds[asset]:%H:%M}Z")
                continue
            unsupported = self._unroutable(proposal)
            if unsupported:
                skipped.append(unsupported)
                continue
            claimed.add(asset)
            before = dict(c.counts)
            await c.handle(proposal, snapshot, now)
            if c.counts["proposed"] == before.get("proposed", 0):
                continue  # this instant was already decided (e.g. before a restart)
            ids.append(proposal.command.key)
            refused = any(c.counts[k] > before.get(k, 0) for k in ("rejected", "blocked"))
            if runner.outcome(accepted=not refused):
                c.events.append_event(
                    ev.AgentEscalated(
                        agent=runner.name,
                        rejections=runner.consecutive_rejections,
                        reason=f"{runner.consecutive_rejections} proposals in a row rejected by "
                        "the gate or the simulator: an operator signs off every proposal of "
                        f"{runner.name} until one passes again",
                    ),
                    ts=now,
                )
                log.warning("agent %s escalated to a human", runner.name)
        return ids, skipped

    def _unroutable(self, proposal: Proposal) -> str:
        """Why the conductor cannot send this proposal ('' when it can): it writes battery
        active power and the curtailment of PV and curtailable loads so far."""
        kind = proposal.command.kind
        try:
            asset = self.c.config.asset(proposal.command.asset)
        except KeyError:
            return ""  # unknown asset: the gate rejects it with the reason
        if isinstance(asset, BatteryAsset) and kind is CommandKind.ACTIVE_POWER_KW:
            return ""
        if isinstance(asset, PvAsset | CurtailableLoadAsset) and kind is CommandKind.CURTAIL_PCT:
            return ""
        return (
            f"{asset.id} {kind.value}: the conductor sends battery active power and PV or "
            f"load curtailment only, not {kind.value} to a {asset.type}"
        )

    def perceive(self, snapshot: StateSnapshot, now: datetime) -> Perception:
        """What the agents see now (the canary decides on the same perception)."""
        config = self.c.config
        voltages = {
            b.id: r.value
            for b in config.safety.buses
            if b.point is not None and (r := snapshot.get(b.point)) is not None
        }
        return Perception(
            snapshot=snapshot,
            setpoints=dict(self.c.setpoints),
            history={k: tuple(v) for k, v in self.history.items()},
            voltages_pu=voltages,
            dr_events=tuple(self.dr_events.values()),
            requests=tuple(self.requests),
            held=frozenset(self.holds),
        )

    def _record(self, snapshot: StateSnapshot, now: datetime) -> None:
        for key, value in observed(snapshot, self.c.config).items():
            self._series(key).append((now, value))

    def _seed(self, now: datetime) -> None:
        """Start the history from the historian (if any), so a restart does not wait 28 h
        for the forecast tier: 5-min means of each point, and of meter + battery."""
        if self.c.historian is None:
            return
        import polars as pl

        config = self.c.config
        meter = point_id(config.feeder.meter, "p_kw")
        battery = point_id(config.policy.peak_shaving.battery, "p_kw")
        points = [meter, battery, *anomaly_points(config)]
        try:
            self.c.historian.flush()
            raw = self.c.historian.read(since=now - HISTORY, until=now)
        except (OSError, pl.exceptions.PolarsError) as err:
            log.warning("agents: no history from the historian (%s); starting empty", err)
            return
        step = max(self.tick, timedelta(minutes=1))
        means = (
            raw.filter(pl.col("point").is_in(points) & (pl.col("quality") == "good"))
            .sort("ts")
            .group_by_dynamic("ts", every=step, group_by="point")
            .agg(pl.col("value").mean())
        )
        wide: dict[datetime, dict[str, float]] = {}
        for point, ts, value in means.select("point", "ts", "value").iter_rows():
            wide.setdefault(ts, {})[point] = value
        for ts in sorted(wide):
            row = wide[ts]
            for point, value in row.items():
                self._series(point).append((ts, value))
            if meter in row and battery in row:
                self._series(UNCONTROLLED).append((ts, row[meter] + row[battery]))
        if wide:
            log.info("agents: history seeded with %d steps from the historian", len(wide))

    def _series(self, key: str) -> deque[tuple[datetime, float]]:
        if key not in self.history:
            self.history[key] = deque(maxlen=self._history_width)
        return self.history[key]

    # --- DR events --------------------------------------------------------------

    def _drain_dr(self, now: datetime) -> None:
        c = self.c
        assets = frozenset(a.id for a in c.config.assets)
        for raw, via in self.inbox.drain():
            result = accept_dr_event(raw, now, assets=assets)
            if isinstance(result, DrAccepted):
                event = result.event
                self.dr_events[event.event_id] = event  # same id again: a revision
                self.dr_counts["accepted"] += 1
                c.events.append_event(
                    ev.AgentDrEventAccepted(
                        event_id=event.event_id, event=event.model_dump(mode="json"), via=via
                    ),
                    ts=now,
                )
                continue
            self.dr_counts["rejected"] += 1
            log.warning("DR event from %s rejected: %s", via, result.reason)
            c.events.append_event(
                ev.AgentDrEventRejected(
                    reason=result.reason,
                    raw=result.raw[: 64 * 1024].decode("utf-8", errors="replace"),
                    via=via,
                ),
                ts=now,
            )
        self.dr_events = {k: e for k, e in self.dr_events.items() if e.end > now}
        cap = c.config.agents.dr_events.max_events
        if len(self.dr_events) > cap:
            keep = sorted(self.dr_events.values(), key=lambda e: e.start)[:cap]
            self.dr_events = {e.event_id: e for e in keep}

    # --- reporting --------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return {
            "by_agent": {r.name: r.stats.as_json() for r in self.runners},
            "dr_events": dict(self.dr_counts),
            "observation_mismatches": self.observer.mismatches,
        }


__all__ = ["AgentSet", "Factories", "Scorer", "build_runners", "history_width", "observed"]

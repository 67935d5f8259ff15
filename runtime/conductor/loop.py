"""The local conductor: ingest -> propose -> decide -> approve -> outbox.

The decision is one pure function (``runtime.decide.step.decide_step``: gate, twin,
power flow, approval rule); this class is the shell that feeds it, records every step
(with the inputs it took, for replay) and hands approved commands to the outbox, which
makes them durable before a device sees them. On start it rebuilds its projections from
the log (snapshot + tail) and resumes commands that were in flight when the previous
run stopped. Its helpers get what they need, never the conductor: the agent set its
``Links``, the approval desk the log, the rules and a counter.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

import orjson

from connectors import Sample
from runtime.agents.links import Links
from runtime.agents.shell import AgentSet, Factories
from runtime.approvals.desk import ApprovalDesk
from runtime.conductor import interventions
from runtime.conductor.decider import Decider
from runtime.conductor.field import FieldLink, source_alarm
from runtime.conductor.outbox import Delivery, Outbox, count
from runtime.conductor.sinks import MqttCommandSink, TimeBase
from runtime.config import site
from runtime.config.model import SiteConfig
from runtime.core.clock import Clock
from runtime.decide import step as decision
from runtime.decide.approval_rule import REQUESTED, stricter
from runtime.decide.candidates import PRODUCTION_MODELS
from runtime.decide.gridcheck import GridChecker
from runtime.decide.policy import Proposal
from runtime.decide.step import Outcome
from runtime.hierarchy.site_link import SiteLink
from runtime.ingest.historian import Historian
from runtime.ingest.state import LatestState
from runtime.log import events as ev
from runtime.log import records
from runtime.log.deadletter import DeadLetterStore
from runtime.log.dispatch import UNDECIDED, DispatchRecord, Projections, State
from runtime.log.eventlog import EventLog
from runtime.service.jobs import RetryPolicy
from runtime.shadow.canary import CanaryWatch, live_gate_inputs
from safety import ApprovedCommand, Command, StateSnapshot

log = logging.getLogger(__name__)

SNAPSHOT_EVERY = 2000  # events between projection snapshots
# What produced a proposal: the rule policy uses no learned model, and the twin's
# forecast is persistence of the current uncontrolled load.
MODELS = dict(PRODUCTION_MODELS)


class Conductor:
    def __init__(
        self,
        config: SiteConfig,
        events: EventLog,
        clock: Clock,
        *,
        auto_approve: bool = False,
        dlq: DeadLetterStore | None = None,
        retry: RetryPolicy | None = None,
        state_timeout_s: float = 10.0,
        historian: Historian | None = None,
        historian_flush_s: float = 10.0,
        device_time: Mapping[str, TimeBase] | None = None,
        agent_factories: Factories | None = None,
    ) -> None:
        self.config = config
        self.events = events
        self.clock = clock
        self.auto_approve = auto_approve
        self.state = LatestState()
        self.envelope = site.envelope(config)
        self.twin = site.twin_feeder(config)
        self.counts: Counter[str] = Counter()
        self.dispatch_ids: list[str] = []
        self.projections = Projections()
        self.field = FieldLink(
            config, clock, self.state, self._on_sample, dlq=dlq, device_time=device_time
        )
        self.field.sources.set_alarm(source_alarm(events, clock))
        self._config_body, self.config_sha = records.config_json(config)
        self._state_timeout_s = state_timeout_s
        self.dlq = dlq
        self.outbox = Outbox(events, self.field.write, clock, retry=retry, dlq=dlq)
        network, reports = config.feeder.network, events.path.parent / "reports"
        self.grid = GridChecker(config, network, reports) if network is not None else None
        self.ready = asyncio.Event()
        self.resumed: list[Delivery] = []
        self._historian = historian
        self._historian_flush_s = historian_flush_s
        # The production policy is the config's unless a canary was promoted (read from the
        # log); an active canary decides on the same snapshots, recorded, never dispatched.
        self.context = decision.DecisionContext(
            config=config, envelope=self.envelope, twin=self.twin, grid=self.grid
        )
        self.desk = ApprovalDesk(config.approvals, events, self.counts)
        self.decider = Decider(
            events, self.counts, self.context, historian, lambda: self.projections.last_key
        )
        self.canary = CanaryWatch(config, events, self.context)
        self.reverts = interventions.Reverts(
            events,
            clock,
            snapshot=self.state.snapshot,
            setpoints=lambda: self.setpoints,
            config_sha=self.config_sha,
            gate=self.decider.gate,
            send=self.send,
            refresh=self._refresh,
        )
        self.policy = self.canary.production_policy()
        self._stopping = False
        self.alive_at: float | None = None  # loop time of run()'s last turn (the watchdog)
        # The controller's side of this site (runtime.hierarchy); the shell starts it.
        self.link = SiteLink(config, events, clock) if config.hierarchy is not None else None
        self.sources = self.field.sources
        self.agents = AgentSet(
            Links(
                config=config,
                events=events,
                historian=historian,
                clock=clock,
                dlq=dlq,
                state=self.state,
                snapshot=self.state.snapshot,
                setpoints=lambda: self.setpoints,
                decision_config=self.decision_config,
                handle=self.handle,
                revert=self.revert,
            ),
            agent_factories,
        )

    @property
    def historian(self) -> Historian | None:
        return self._historian

    @historian.setter
    def historian(self, historian: Historian | None) -> None:
        """A historian given after construction reaches the gate's forecast and the agents."""
        self._historian = historian
        self.decider.historian = historian
        self.agents.links = replace(self.agents.links, historian=historian)

    def _on_sample(self, sample: Sample) -> None:
        self.state.apply(sample)
        if self.historian is not None:
            self.historian.on_sample(sample)

    @property
    def setpoints(self) -> dict[str, float]:
        # A bridge that failed safe holds its default, whatever was dispatched last.
        return self.field.held(self.projections.setpoints)

    @property
    def sinks(self) -> dict[str, MqttCommandSink]:
        return self.field.sinks

    # --- lifecycle ----------------------------------------------------------

    async def connect(self) -> None:
        await self.field.connect()
        self.agents.start()
        self.events.append_event(
            ev.RuntimeStarted(
                site=self.config.site.id,
                sources=list(self.field.clients),
                config=self._config_body,
                config_sha=self.config_sha,
            ),
            ts=self.clock(),
        )
        self.projections = Projections.load(self.events)
        self._close_undecided()
        self.desk.restore(self.projections)
        await self._wait_for_state()
        self.resumed = await self.outbox.resume(self.projections, self._regate)
        self._refresh()
        self.events.append_event(
            ev.RuntimeReady(
                resumed=[d.dispatch_id for d in self.resumed],
                restored_from_seq=self.projections.seq,
            ),
            ts=self.clock(),
        )
        self.ready.set()

    async def close(self) -> None:
        self.agents.stop()
        await self.field.close()
        if self.historian is not None:
            self.historian.flush()
        self._refresh()
        self.projections.save(self.events)

    async def run(self, until: datetime | None = None, *, tick_s: float = 0.02) -> None:
        """Run decision cycles until the clock reaches ``until``; each agent at its cadence."""
        cadence = self.agents.tick
        next_cycle = self.clock()
        saved_at = self.projections.seq
        loop = asyncio.get_running_loop()
        flushed_at = dlq_at = loop.time()
        while not self._stopping and (until is None or self.clock() < until):
            self.alive_at = loop.time()
            now = self.clock()
            await self.check_approvals(now)
            if now >= next_cycle:
                await self.cycle(now, due_only=True)
                next_cycle = now + cadence
            if self.projections.seq - saved_at >= SNAPSHOT_EVERY:
                self.projections.save(self.events)
                saved_at = self.projections.seq
            if loop.time() - dlq_at >= 1.0:  # operator requests from other processes
                if self.dlq is not None:
                    await self.retry_dead_letters()
                await self.revert_requested()
                dlq_at = loop.time()
            if self.historian is not None and loop.time() - flushed_at >= self._historian_flush_s:
                self.historian.flush()
                flushed_at = loop.time()
            await asyncio.sleep(tick_s)

    def request_stop(self) -> None:
        """Graceful stop: finish the cycle or delivery under way, then return from ``run``."""
        self._stopping = True

    async def _wait_for_state(self) -> None:
        """Resume only against fresh state: wait (bounded) for every required point."""
        needed = {p for limits in self.envelope.assets.values() for p in limits.required_points}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._state_timeout_s
        while not needed <= set(self.state.snapshot().readings):
            if loop.time() >= deadline:
                missing = sorted(needed - set(self.state.snapshot().readings))
                log.warning("no value yet for %s: in-flight commands re-checked anyway", missing)
                return
            await asyncio.sleep(0.02)

    def _refresh(self) -> None:
        for event in self.events.events(after_seq=self.projections.seq):
            self.projections.apply(event)

    def _close_undecided(self) -> None:
        """Decisions a crash cut short before approval: close them (they never reached
        the outbox, so nothing was sent); the policy decides afresh on current state."""
        for record in list(self.projections.open.values()):
            if record.state in UNDECIDED:
                self.events.append_event(
                    ev.DispatchExpired(reason="decision interrupted by a restart; never sent"),
                    ts=self.clock(),
                    dispatch_id=record.dispatch_id,
                )
        self._refresh()

    # --- one decision cycle -------------------------------------------------

    def decision_config(self) -> SiteConfig:
        """The config production decides with: the policy in production (a promoted
        canary), its threshold lowered by a fresh controller cap, never raised."""
        peak = self.policy.peak_shaving
        if self.link is not None:
            peak = self.link.peak_shaving(peak)
        if peak == self.config.policy.peak_shaving:
            return self.config
        policy = self.config.policy.model_copy(update={"peak_shaving": peak})
        return self.config.model_copy(update={"policy": policy})

    async def cycle(self, now: datetime, *, due_only: bool = False) -> None:
        """Every enabled agent decides (``due_only``: those whose cadence has come round);
        each proposal goes through ``handle``. A canary decides on the same snapshot."""
        snapshot = self.state.snapshot()
        setpoints = dict(self.setpoints)  # what both production and a canary start from
        last_key = dict(self.projections.last_key)  # the history as this cycle found it
        await self.agents.cycle(now, due_only=due_only)
        # A canary decides as production does: under the controller's cap, gated with
        # the log's dispatch history and the historian's feeder forecast.
        self.canary.observe(
            snapshot,
            now,
            setpoints,
            self.policy,
            cap=self.link.peak_shaving if self.link is not None else None,
            gate_inputs=live_gate_inputs(
                self.decider.sends, last_key, self.envelope, self.historian, snapshot, now
            ),
            perception=self.agents.perceive(snapshot, now),
        )
        if self.link is not None:
            self.link.publish_summary(snapshot)
        self._refresh()

    async def handle(
        self,
        proposal: Proposal,
        snapshot: StateSnapshot,
        now: datetime,
        *,
        proposed_by: str | None = None,
    ) -> Outcome | None:
        """Decide one proposal (``decide_step``), record each step, act on the outcome;
        None when this decision instant was already decided (e.g. before a restart).
        ``proposed_by``: the operator behind an operator intent (they cannot approve it)."""
        command = proposal.command
        did = command.key
        if self.events.has_dispatch(did):
            return None
        if proposed_by is None and self.desk.reconfirm(proposal, now, self.projections):
            return None  # (nearly) the same plan: the pending request stands, with its expiry
        self.dispatch_ids.append(did)
        self.counts["proposed"] += 1
        self.desk.supersede(command.asset, now, successor=did)
        last_kw = self.setpoints.get(command.asset, 0.0)
        self.events.append_event(
            ev.DispatchProposed(
                command=records.command_body(command),
                policy=proposal.policy,
                rationale=proposal.rationale,
                inputs=proposal.inputs,
                snapshot=records.snapshot_body(snapshot),
                rollback_kw=last_kw,
                last_setpoint_kw=last_kw,
                config_sha=self.config_sha,
                models=dict(self.policy.models),
            ),
            ts=now,
            dispatch_id=did,
        )
        d = self.decider.decide(proposal, snapshot, now)
        self.decider.record(d, now)
        approved = d.approved
        if d.outcome is Outcome.REJECTED or approved is None:
            return d.outcome
        if d.outcome is Outcome.BLOCKED:
            self.counts["blocked"] += 1
            self.events.append_event(
                ev.DispatchBlocked(reason=d.blocked_reason), ts=now, dispatch_id=did
            )
            return d.outcome
        assert d.requirement is not None
        if d.outcome is Outcome.AUTO or (self.auto_approve and not proposal.escalated):
            reason = (
                f"|{d.approval_kw:g}| kW <= auto-approve limit "
                f"{self.config.approvals.auto_approve_max_kw:g} kW"
                if d.outcome is Outcome.AUTO
                else f"demo --auto-approve (policy requires {d.requirement.value})"
            )
            self.counts["approved"] += 1
            self.events.append_event(
                ev.ApprovalAuto(requirement=d.requirement.value, reason=reason),
                ts=now,
                dispatch_id=did,
            )
            await self.send(approved, now)
            return d.outcome
        plot = self.grid.plot(d.grid, did) if self.grid is not None and d.grid else None
        self.desk.request(
            d,
            now,
            proposed_by=proposed_by or f"policy:{proposal.policy}",
            rollback_kw=last_kw,
            plot=plot,
        )
        return d.outcome

    def _regate(self, record: DispatchRecord, now: datetime) -> ApprovedCommand | None:
        """Restart re-check of an in-flight command (recorded in ``dispatch.resumed``)."""
        command = records.command_from(record.command)
        return self.decider.regate(command, self.state.snapshot(), now)

    # --- approvals ----------------------------------------------------------

    async def check_approvals(self, now: datetime) -> None:
        """Operators decide in another process (CLI, console): read their events from the log."""
        await self.desk.check(now, self._refreshed, self._granted)

    def _refreshed(self) -> Projections:
        self._refresh()
        return self.projections

    async def _granted(self, did: str, command: Command, now: datetime) -> None:
        """A fully granted plan: decided again on fresh state (a stale approval cannot
        dispatch); sent once if the gate, the twin and the power flow still pass it."""
        again = Proposal(command=command, policy="approved", rationale="re-check at approval")
        d = self.decider.decide(again, self.state.snapshot(), now)
        self.decider.record(d, now, recheck=True)
        if d.approved is None:
            return
        asked = self.events.events(dispatch_id=did, kinds=(REQUESTED,))
        was = [e.as_(ev.ApprovalRequested).requirement for e in asked]
        grown = stricter(was[-1] if was else None, d.requirement, d.approval_kw)
        if d.outcome is Outcome.BLOCKED or grown:
            self.counts["blocked"] += 1
            why = grown or d.blocked_reason  # a rule that grows (a curtailment's shed kW)
            reason = f"re-validation at approval against fresh state: {why}; nothing sent"
            log.warning("approved dispatch %s blocked: %s", did, reason)
            self.events.append_event(ev.DispatchBlocked(reason=reason), ts=now, dispatch_id=did)
            return
        self.counts["approved"] += 1
        await self.send(d.approved, now)

    # --- dispatch -----------------------------------------------------------

    async def send(self, approved: ApprovedCommand, now: datetime) -> Delivery:
        source = site.setpoint_source(self.config, approved.asset, approved.command.kind)
        self.counts["sent"] += 1
        delivery = await self.outbox.submit(
            approved, source, rollback_kw=self.setpoints.get(approved.asset, 0.0)
        )
        count(self.counts, delivery)
        self._refresh()
        return delivery

    async def retry_dead_letters(self) -> list[Delivery]:
        """Commands an operator sent back with ``gridaios dlq retry ID``."""
        assert self.dlq is not None
        out: list[Delivery] = []
        for entry in self.dlq.claim_retries("dispatch"):
            did = str(orjson.loads(entry.payload).get("dispatch_id", ""))
            record = self.projections.open.get(did)
            if record is None or record.state is not State.DEAD_LETTERED:
                log.warning(
                    "dlq %d: dispatch %s is not dead-lettered; nothing to retry", entry.id, did
                )
                continue
            delivery = await self.outbox.retry_dead(record, self.projections, self._regate)
            count(self.counts, delivery)
            self._refresh()
            out.append(delivery)
        return out

    async def revert_requested(self) -> list[Delivery]:
        """Carry out ``gridaios revert`` requests (each once: the revert key is deterministic)."""
        return await self.reverts.requested()

    async def revert(self, dispatch_id: str, *, by: str, reason: str) -> Delivery | None:
        """Put the asset back to the dispatch's rollback point, through the gate and outbox."""
        return await self.reverts.revert(dispatch_id, by=by, reason=reason)

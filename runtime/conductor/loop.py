"""The local conductor: ingest -> propose -> gate -> simulate -> approve -> outbox.

The decisions are pure functions (policy, safety.evaluate, simulator.validate_plan,
approvals.requirement); this class is the shell that feeds them, records every
step (with the inputs each function took, for replay) and hands approved
commands to the outbox, which makes them durable before a device sees them.
On start it rebuilds its projections from the log (snapshot + tail) and resumes
commands that were in flight when the previous run stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import orjson

from connectors import Sample, WriteResult
from connectors.mqtt import MqttSourceConfig
from connectors.opcua import OpcUaSourceConfig
from runtime.agents import AgentSet, Factories
from runtime.approvals import book as approvals
from runtime.approvals import desk as approval_desk
from runtime.approvals import pending as pending_requests
from runtime.conductor import interventions
from runtime.conductor.outbox import Delivery, Outbox
from runtime.conductor.sinks import (
    DeviceTimeSource,
    MqttCommandSink,
    SinkResult,
    TimeBase,
    command_sinks,
    held_setpoints,
)
from runtime.config import site
from runtime.config.model import SiteConfig
from runtime.core.clock import Clock
from runtime.decide import gate_inputs
from runtime.decide import step as decision
from runtime.decide.gridcheck import GridCheck, GridChecker
from runtime.decide.policy import Proposal
from runtime.decide.step import with_value
from runtime.hierarchy.site_link import SiteLink
from runtime.ingest.historian import Historian
from runtime.ingest.sources import SourceClient, make_client
from runtime.ingest.sourcewatch import SourceWatch, assets_by_source
from runtime.ingest.state import LatestState
from runtime.log import events as ev
from runtime.log import records
from runtime.log.deadletter import DeadLetterStore
from runtime.log.dispatch import UNDECIDED, DispatchRecord, Projections, State
from runtime.log.eventlog import EventLog
from runtime.service.jobs import RetryPolicy
from runtime.shadow.canary import CanaryWatch, live_gate_inputs
from safety import (
    Accepted,
    ApprovedCommand,
    Clamped,
    Command,
    CommandKind,
    Rejected,
    StateSnapshot,
)
from simulator import TwinState, ValidationReport

log = logging.getLogger(__name__)

SNAPSHOT_EVERY = 2000  # events between projection snapshots
# What produced a proposal: the rule policy uses no learned model, and the twin's
# forecast is persistence of the current uncontrolled load.
MODELS = dict(decision.PRODUCTION_MODELS)


@dataclass(frozen=True, slots=True)
class NotSimulated(ValidationReport):
    """A command the feeder twin cannot model: says so instead of a validation."""

    reason: str = ""

    def summary(self) -> str:
        return self.reason


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
        self.sends = gate_inputs.SendHistory(events)  # the gate's history, read incrementally
        self._clients: dict[str, SourceClient] = {}
        # Setpoints on an MQTT (JSON) source go through a command sink (cmd, ack, read-back).
        self.sinks: dict[str, MqttCommandSink] = {}
        # Sources whose devices keep the wall clock while this conductor runs on a
        # simulated one (the demo's bridge): their times are translated.
        self._device_time = dict(device_time or {})
        self._awaiting: dict[str, Command] = {}  # the plan each request binds, by dispatch id
        self._escalate_at: dict[str, datetime] = {}  # requests not escalated yet
        self._config_body, self.config_sha = records.config_json(config)
        self._state_timeout_s = state_timeout_s
        self.dlq = dlq
        self.outbox = Outbox(events, self._write, clock, retry=retry, dlq=dlq)
        network = config.feeder.network
        reports = events.path.parent / "reports"
        self.grid = GridChecker(config, network, reports) if network is not None else None
        self.ready = asyncio.Event()
        self.resumed: list[Delivery] = []
        self.historian = historian
        self._historian_flush_s = historian_flush_s
        self._revert_seq = 0  # revert requests up to here are handled
        # The production policy is the config's unless a canary was promoted (read from the
        # log); an active canary decides on the same snapshots, recorded, never dispatched.
        self.canary = CanaryWatch(
            config,
            events,
            decision.DecisionContext(
                config=config, envelope=self.envelope, twin=self.twin, grid=self.grid
            ),
        )
        self.policy = self.canary.production_policy()
        self._stopping = False
        # The controller's side of this site (runtime.hierarchy); the shell starts it.
        self.link = SiteLink(config, events, clock) if config.hierarchy is not None else None
        self.agents = AgentSet(self, agent_factories)
        self.sources = SourceWatch(
            assets_by_source(
                {a.id: {r: p.source for r, p in a.points.items()} for a in config.assets}
            ),
            self._source_alarm,
        )

    def _source_alarm(self, source: str, state: str, reason: str) -> None:
        (log.info if state == "ok" else log.error)("%s", reason)
        self.events.append_event(
            ev.HealthChanged(service=f"source:{source}", state=state, reason=reason),
            ts=self.clock(),
        )

    def _on_sample(self, sample: Sample) -> None:
        self.state.apply(sample)
        if self.historian is not None:
            self.historian.on_sample(sample)

    @property
    def setpoints(self) -> dict[str, float]:
        # A bridge that failed safe holds its default, whatever was dispatched last.
        return held_setpoints(self.projections.setpoints, self.sinks, self.state.get)

    # --- lifecycle ----------------------------------------------------------

    async def connect(self) -> None:
        # Partial start: the site runs with the sources it has (runtime.ingest.sourcewatch).
        self._clients = {s.id: self._make_client(s) for s in self.config.sources}
        await self.sources.start(self._clients)
        self.sinks = command_sinks(
            self.config,
            self.state.get,
            self.clock,
            self._device_time,
        )
        await self.sources.start_sinks(self.sinks)
        self.agents.start()
        self.events.append_event(
            ev.RuntimeStarted(
                site=self.config.site.id,
                sources=list(self._clients),
                config=self._config_body,
                config_sha=self.config_sha,
            ),
            ts=self.clock(),
        )
        self.projections = Projections.load(self.events)
        self._close_undecided()
        self._restore_awaiting()
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

    def _make_client(self, source: OpcUaSourceConfig | MqttSourceConfig) -> SourceClient:
        dead_letters = self.dlq.put if self.dlq is not None else None
        points = site.bindings(self.config, source.id)
        timebase = self._device_time.get(source.id)
        if timebase is not None and isinstance(source, MqttSourceConfig):
            return DeviceTimeSource(
                source, points, self._on_sample, timebase, dead_letters=dead_letters
            )
        return make_client(source, points, self._on_sample, self.clock, dead_letters=dead_letters)

    async def close(self) -> None:
        self.agents.stop()
        await self.sources.stop()
        for sink in self.sinks.values():
            await sink.close()  # kept: their counts outlive the session
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
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

    def _restore_awaiting(self) -> None:
        approval_desk.restore(self)

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
                self.sends, last_key, self.envelope, self.historian, snapshot, now
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
    ) -> None:
        """``proposed_by``: the operator behind an operator intent (they cannot approve it)."""
        command = proposal.command
        did = command.key
        if self.events.has_dispatch(did):
            return  # this decision instant was already decided (e.g. before a restart)
        if proposed_by is None and pending_requests.keep(self, proposal, now):
            return  # (nearly) the same plan: the pending request stands, with its expiry
        self.dispatch_ids.append(did)
        self.counts["proposed"] += 1
        self._supersede(command.asset, now, successor=did)
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
        approved = self.gate(command, snapshot, now)
        if approved is None:
            return
        report = self._simulate(approved, snapshot, now)
        grid = self._grid_check(approved, snapshot, now)
        if not report.ok or (grid is not None and not grid.ok):
            self.counts["blocked"] += 1
            reason = report.summary() if not report.ok else grid.summary if grid else ""
            self.events.append_event(ev.DispatchBlocked(reason=reason), ts=now, dispatch_id=did)
            return
        need, kw = decision.approval_requirement(
            self.config, approved.command, approved.value, snapshot, escalated=proposal.escalated
        )
        if need is approvals.Requirement.AUTO or (self.auto_approve and not proposal.escalated):
            reason = (
                f"|{kw:g}| kW <= auto-approve limit "
                f"{self.config.approvals.auto_approve_max_kw:g} kW"
                if need is approvals.Requirement.AUTO
                else f"demo --auto-approve (policy requires {need.value})"
            )
            self.counts["approved"] += 1
            self.events.append_event(
                ev.ApprovalAuto(requirement=need.value, reason=reason), ts=now, dispatch_id=did
            )
            await self.send(approved, now)
            return
        approval_desk.request(
            self,
            approved,
            need,
            proposal,
            report,
            grid,
            now,
            proposed_by=proposed_by or f"policy:{proposal.policy}",
            rollback_kw=last_kw,
        )

    def gate(
        self, command: Command, snapshot: StateSnapshot, now: datetime, *, recheck: bool = False
    ) -> ApprovedCommand | None:
        inputs = self._gate_inputs(command, snapshot, now)
        verdict = decision.gate_one(command, snapshot, self.envelope, now, inputs)
        self.events.append_event(
            inputs.gated(verdict, recheck=recheck), ts=now, dispatch_id=command.key
        )
        match verdict:
            case Rejected():
                self.counts["rejected"] += 1
                reasons = "; ".join(h.reason for h in verdict.hits)
                self.events.append_event(
                    ev.DispatchRejected(reason=reasons), ts=now, dispatch_id=command.key
                )
                return None
            case Clamped():
                self.counts["clamped"] += 1
                return verdict.approved
            case Accepted():
                return verdict.approved

    def _gate_inputs(
        self, command: Command, snapshot: StateSnapshot, now: datetime
    ) -> gate_inputs.GateInputs:
        """The gate's history (from the log) and feeder forecast (from the historian)."""
        return gate_inputs.collect(
            self.sends,
            self.projections.last_key,
            self.envelope,
            self.historian,
            snapshot,
            command,
            now,
        )

    def _regate(self, record: DispatchRecord, now: datetime) -> ApprovedCommand | None:
        """Restart re-check of an in-flight command (recorded in ``dispatch.resumed``)."""
        command = records.command_from(record.command)
        snapshot = self.state.snapshot()
        inputs = self._gate_inputs(command, snapshot, now)
        verdict = decision.gate_one(command, snapshot, self.envelope, now, inputs)
        return verdict.approved if isinstance(verdict, Accepted | Clamped) else None

    def twin_state(self, snapshot: StateSnapshot) -> TwinState:
        return decision.twin_state(self.config, self.twin, snapshot)

    def _simulate(
        self, approved: ApprovedCommand, snapshot: StateSnapshot, now: datetime
    ) -> ValidationReport:
        twin = self.twin_state(snapshot)
        if approved.command.kind is not CommandKind.ACTIVE_POWER_KW:
            return self._not_simulated(approved, twin, now)
        report = decision.simulate(approved, twin, self.twin, now)
        self.events.append_event(
            records.simulated(report, twin, approved.value), ts=now, dispatch_id=approved.key
        )
        return report

    def _not_simulated(
        self, approved: ApprovedCommand, twin: TwinState, now: datetime
    ) -> ValidationReport:
        """The twin models battery active power only: recorded as not simulated, not
        blocking (the gate's limits and the power flow, when configured, still apply)."""
        kind = approved.command.kind.value
        report = NotSimulated(
            violations=(),
            steps=0,
            step_s=0.0,
            peak_kw_plan=twin.uncontrolled_net_kw,
            peak_kw_baseline=twin.uncontrolled_net_kw,
            energy_shifted_kwh=0.0,
            reason=f"not simulated: the feeder twin does not model {kind} "
            f"({approved.asset} {approved.value:g}); the gate's envelope "
            + ("and the power flow checked it" if self.grid else "alone checked it"),
        )
        self.events.append_event(
            records.simulated(report, twin, approved.value), ts=now, dispatch_id=approved.key
        )
        return report

    def _grid_check(
        self, approved: ApprovedCommand, snapshot: StateSnapshot, now: datetime
    ) -> GridCheck | None:
        if self.grid is None:
            return None
        check = self.grid.check(with_value(approved.command, approved.value), snapshot, now)
        self.events.append_event(
            ev.DispatchGridValidated(ok=check.ok, summary=check.summary, report=check.report),
            ts=now,
            dispatch_id=approved.key,
        )
        return check

    # --- approvals ----------------------------------------------------------

    async def check_approvals(self, now: datetime) -> None:
        """Operators decide in another process (CLI, console): read their events from the log."""
        await approval_desk.check(self, now)

    def _revalidate(self, approved: ApprovedCommand, snapshot: StateSnapshot, now: datetime) -> str:
        """The simulator and the power flow again, on fresh state: '' when still safe."""
        report = self._simulate(approved, snapshot, now)
        if not report.ok:
            return report.summary()
        grid = self._grid_check(approved, snapshot, now)
        return grid.summary if grid is not None and not grid.ok else ""

    def _supersede(self, asset: str, now: datetime, *, successor: str | None = None) -> None:
        for did, command in list(self._awaiting.items()):
            if command.asset == asset:
                self._awaiting.pop(did)
                self._escalate_at.pop(did, None)
                self.counts["superseded"] += 1
                self.events.append_event(
                    ev.DispatchSuperseded(
                        reason="a newer proposal for the same asset moved beyond the "
                        "tolerance and replaced it",
                        successor=successor,
                    ),
                    ts=now,
                    dispatch_id=did,
                )

    # --- dispatch -----------------------------------------------------------

    async def send(self, approved: ApprovedCommand, now: datetime) -> Delivery:
        source = site.setpoint_source(self.config, approved.asset, approved.command.kind)
        self.counts["sent"] += 1
        delivery = await self.outbox.submit(
            approved, source, rollback_kw=self.setpoints.get(approved.asset, 0.0)
        )
        self._count(delivery)
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
            self._count(delivery)
            self._refresh()
            out.append(delivery)
        return out

    def _count(self, delivery: Delivery) -> None:
        if delivery.state is State.VERIFIED:
            self.counts["acked"] += 1
            self.counts["verified"] += 1
        elif delivery.reason.startswith("read-back"):  # acked, but runs another value
            self.counts["acked"] += 1
            self.counts["failed"] += 1
        else:
            self.counts["failed"] += 1

    async def _write(self, approved: ApprovedCommand, source: str) -> WriteResult | SinkResult:
        if approved.command.kind is CommandKind.CURTAIL_PCT:  # keyless: read-back confirms
            target = site.curtail_target(self.config, approved.asset)
            return await self._clients[source].write(approved, target)
        sink = self.sinks.get(source)
        if sink is not None:
            return await sink.write(approved)
        battery = self.config.battery(approved.asset)
        return await self._clients[source].write(approved, site.write_target(battery))

    async def revert_requested(self) -> list[Delivery]:
        """Carry out ``gridaios revert`` requests (each once: the revert key is deterministic)."""
        out: list[Delivery] = []
        for seq, did, user, reason in interventions.requested(self.events, self._revert_seq):
            self._revert_seq = seq
            delivery = await self.revert(did, by=user, reason=reason)
            if delivery is not None:
                out.append(delivery)
        return out

    async def revert(self, dispatch_id: str, *, by: str, reason: str) -> Delivery | None:
        """Put the asset back to the dispatch's rollback point, through the gate and outbox."""
        return await interventions.revert(self, dispatch_id, by=by, reason=reason)

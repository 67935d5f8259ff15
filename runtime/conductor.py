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
from datetime import datetime, timedelta

import orjson

from connectors import Sample, WriteResult
from runtime import approvals, interventions, records, site
from runtime import events as ev
from runtime.agents import AgentSet, Factories
from runtime.clock import Clock
from runtime.config import SiteConfig
from runtime.deadletter import DeadLetterStore
from runtime.dispatch import UNDECIDED, DispatchRecord, Projections, State
from runtime.eventlog import EventLog
from runtime.gridcheck import GridCheck, GridChecker
from runtime.historian import Historian
from runtime.jobs import RetryPolicy
from runtime.outbox import Delivery, Outbox
from runtime.policy import Proposal
from runtime.sources import SourceClient, make_client
from runtime.state import LatestState
from safety import Accepted, ApprovedCommand, Clamped, Command, Rejected, StateSnapshot, evaluate
from simulator import TwinState, ValidationReport, validate_plan

log = logging.getLogger(__name__)

SNAPSHOT_EVERY = 2000  # events between projection snapshots
# What produced a proposal: the rule policy uses no learned model, and the twin's
# forecast is persistence of the current uncontrolled load.
MODELS = {"policy": "peak_shaving rule v1", "forecast": "persistence (current load)"}


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
        self._clients: dict[str, SourceClient] = {}
        self._awaiting: dict[str, Command] = {}
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
        self._stopping = False
        self.agents = AgentSet(self, agent_factories)

    def _on_sample(self, sample: Sample) -> None:
        self.state.apply(sample)
        if self.historian is not None:
            self.historian.on_sample(sample)

    @property
    def setpoints(self) -> dict[str, float]:
        return self.projections.setpoints

    # --- lifecycle ----------------------------------------------------------

    async def connect(self) -> None:
        for source in self.config.sources:
            client = make_client(
                source,
                site.bindings(self.config, source.id),
                self._on_sample,
                self.clock,
                dead_letters=self.dlq.put if self.dlq is not None else None,
            )
            await client.connect()
            self._clients[source.id] = client
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

    async def close(self) -> None:
        self.agents.stop()
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
        for record in self.projections.open.values():
            if record.state is State.AWAITING_APPROVAL:
                self._awaiting[record.dispatch_id] = records.command_from(record.command)

    # --- one decision cycle -------------------------------------------------

    async def cycle(self, now: datetime, *, due_only: bool = False) -> None:
        """Every enabled agent decides (``due_only``: those whose cadence has come round);
        each proposal goes through ``handle``."""
        await self.agents.cycle(now, due_only=due_only)
        self._refresh()

    async def handle(self, proposal: Proposal, snapshot: StateSnapshot, now: datetime) -> None:
        command = proposal.command
        did = command.key
        if self.events.has_dispatch(did):
            return  # this decision instant was already decided (e.g. before a restart)
        self.dispatch_ids.append(did)
        self.counts["proposed"] += 1
        self._supersede(command.asset, now)
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
                models=MODELS,
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
        need = approvals.requirement(approved.value, self.config.approvals)
        if proposal.escalated and need is approvals.Requirement.AUTO:
            need = approvals.Requirement.ONE_OPERATOR  # repeated rejections: a human decides
        if need is approvals.Requirement.AUTO or (self.auto_approve and not proposal.escalated):
            reason = (
                f"|{approved.value:g}| kW <= auto-approve limit "
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
        expires = now + timedelta(seconds=self.config.approvals.expiry_s)
        self.counts["awaiting_approval"] += 1
        self.events.append_event(
            ev.ApprovalRequested(
                requirement=need.value,
                expires_at=expires,
                asset=command.asset,
                value=approved.value,
                rationale=proposal.rationale,
                simulation=grid.summary if grid is not None else report.summary(),
                grid_report=grid.report if grid is not None else None,
                plot=self.grid.plot(grid, did) if self.grid and grid else None,
            ),
            ts=now,
            dispatch_id=did,
        )
        self._awaiting[did] = command
        log.info("dispatch %s awaits %s: gridaios approvals approve %s", did, need.value, did)

    def gate(
        self, command: Command, snapshot: StateSnapshot, now: datetime, *, recheck: bool = False
    ) -> ApprovedCommand | None:
        (verdict,) = evaluate([command], snapshot, self.envelope, now)
        self.events.append_event(
            records.gated(verdict, recheck=recheck), ts=now, dispatch_id=command.key
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

    def _regate(self, record: DispatchRecord, now: datetime) -> ApprovedCommand | None:
        """Restart re-check of an in-flight command (recorded in ``dispatch.resumed``)."""
        command = records.command_from(record.command)
        (verdict,) = evaluate([command], self.state.snapshot(), self.envelope, now)
        return verdict.approved if isinstance(verdict, Accepted | Clamped) else None

    def twin_state(self, snapshot: StateSnapshot) -> TwinState:
        meter = snapshot.get(site.point_id(self.config.feeder.meter, "p_kw"))
        p_kw = {
            b: (r.value if (r := snapshot.get(site.point_id(b, "p_kw"))) else 0.0)
            for b in self.twin.batteries
        }
        soc = {
            b: (r.value if (r := snapshot.get(site.point_id(b, "soc_pct"))) else 0.0)
            for b in self.twin.batteries
        }
        uncontrolled = (meter.value if meter else 0.0) + sum(p_kw.values())
        return TwinState(soc_pct=soc, p_kw=p_kw, uncontrolled_net_kw=uncontrolled)

    def _simulate(
        self, approved: ApprovedCommand, snapshot: StateSnapshot, now: datetime
    ) -> ValidationReport:
        twin = self.twin_state(snapshot)
        report = validate_plan(
            [with_value(approved.command, approved.value)],
            twin,
            self.twin,
            now,
            approved.end - approved.start,
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
        if not self._awaiting:
            return
        self._refresh()
        for did in list(self._awaiting):
            command = self._awaiting[did]
            record = self.projections.open.get(did)
            if record is None or record.state is not State.AWAITING_APPROVAL:
                self._awaiting.pop(did)  # rejected by an operator, or otherwise closed
                self.counts["rejected_by_operator"] += 1
                continue
            if now >= datetime.fromisoformat(record.expires_at):
                self._awaiting.pop(did)
                self.counts["expired"] += 1
                self.events.append_event(
                    ev.ApprovalExpired(reason="no decision before expiry; setpoint left unchanged"),
                    ts=now,
                    dispatch_id=did,
                )
                continue
            needed = approvals.Requirement(record.requirement).approvers
            if len(set(record.approvers)) < needed:
                continue
            self._awaiting.pop(did)
            # Re-check against fresh state: a stale approval cannot dispatch.
            approved = self.gate(command, self.state.snapshot(), now, recheck=True)
            if approved is None:
                continue
            self.counts["approved"] += 1
            await self.send(approved, now)

    def _supersede(self, asset: str, now: datetime) -> None:
        for did, command in list(self._awaiting.items()):
            if command.asset == asset:
                self._awaiting.pop(did)
                self.counts["superseded"] += 1
                self.events.append_event(
                    ev.DispatchSuperseded(reason="a newer proposal for the same asset replaced it"),
                    ts=now,
                    dispatch_id=did,
                )

    # --- dispatch -----------------------------------------------------------

    async def send(self, approved: ApprovedCommand, now: datetime) -> Delivery:
        battery = self.config.battery(approved.asset)
        source = battery.points["p_setpoint_kw"].source
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

    async def _write(self, approved: ApprovedCommand, source: str) -> WriteResult:
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


def with_value(command: Command, value: float) -> Command:
    if value == command.value:
        return command
    return Command(
        key=command.key,
        asset=command.asset,
        kind=command.kind,
        value=value,
        start=command.start,
        end=command.end,
        origin=command.origin,
    )

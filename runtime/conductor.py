"""The local conductor: ingest -> propose -> gate -> simulate -> approve -> dispatch.

The decisions are pure functions (policy, safety.evaluate, simulator.validate_plan,
approvals.requirement); this class is the shell that feeds them and records every
step in the event log before it becomes visible to a device.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from connectors import ConnectorError, WriteResult
from runtime import approvals, site
from runtime.clock import Clock
from runtime.config import SiteConfig
from runtime.eventlog import EventLog
from runtime.policy import Proposal, peak_shaving
from runtime.sources import SourceClient, make_client
from runtime.state import LatestState
from safety import (
    Accepted,
    ApprovedCommand,
    Clamped,
    Command,
    Rejected,
    StateSnapshot,
    Verdict,
    evaluate,
)
from simulator import TwinState, ValidationReport, validate_plan

log = logging.getLogger(__name__)


def command_json(command: Command) -> dict[str, Any]:
    return {
        "key": command.key,
        "asset": command.asset,
        "kind": command.kind.value,
        "value": command.value,
        "start": command.start.isoformat(),
        "end": command.end.isoformat(),
        "origin": command.origin.value,
    }


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    value = verdict.approved.value if isinstance(verdict, Accepted | Clamped) else None
    return {
        "outcome": verdict.outcome,
        "value": value,
        "constraints": [asdict(hit) for hit in verdict.hits],
    }


def report_json(report: ValidationReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "summary": report.summary(),
        "violations": [{**asdict(v), "at": v.at.isoformat()} for v in report.violations],
        "steps": report.steps,
        "step_s": report.step_s,
        "peak_kw_plan": report.peak_kw_plan,
        "peak_kw_baseline": report.peak_kw_baseline,
        "energy_shifted_kwh": report.energy_shifted_kwh,
    }


class Conductor:
    def __init__(
        self,
        config: SiteConfig,
        events: EventLog,
        clock: Clock,
        *,
        auto_approve: bool = False,
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
        self.setpoints: dict[str, float] = {}
        self._clients: dict[str, SourceClient] = {}
        self._awaiting: dict[str, tuple[Command, Proposal]] = {}
        self.ready = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------

    async def connect(self) -> None:
        for source in self.config.sources:
            client = make_client(
                source, site.bindings(self.config, source.id), self.state.apply, self.clock
            )
            await client.connect()
            self._clients[source.id] = client
        self.events.append(
            "runtime.started",
            {"site": self.config.site.id, "sources": list(self._clients)},
            ts=self.clock(),
        )
        self.ready.set()

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

    async def run(self, until: datetime, *, tick_s: float = 0.02) -> None:
        """Run decision cycles at the policy cadence until the clock reaches ``until``."""
        cadence = timedelta(seconds=self.config.policy.peak_shaving.cadence_s)
        next_cycle = self.clock()
        while self.clock() < until:
            now = self.clock()
            await self.check_approvals(now)
            if now >= next_cycle:
                await self.cycle(now)
                next_cycle = now + cadence
            await asyncio.sleep(tick_s)

    # --- one decision cycle -------------------------------------------------

    async def cycle(self, now: datetime) -> None:
        policy = self.config.policy.peak_shaving
        battery = self.config.battery(policy.battery)
        snapshot = self.state.snapshot()
        proposals = peak_shaving(
            snapshot,
            policy,
            site_id=self.config.site.id,
            meter=self.config.feeder.meter,
            max_discharge_kw=battery.max_discharge_kw,
            last_setpoint_kw=self.setpoints.get(policy.battery, 0.0),
            now=now,
        )
        for proposal in proposals:
            await self.handle(proposal, snapshot, now)

    async def handle(self, proposal: Proposal, snapshot: StateSnapshot, now: datetime) -> None:
        command = proposal.command
        did = command.key
        self.dispatch_ids.append(did)
        self.counts["proposed"] += 1
        self._supersede(command.asset, now)
        self.events.append(
            "dispatch.proposed",
            {
                "command": command_json(command),
                "policy": proposal.policy,
                "rationale": proposal.rationale,
                "inputs": proposal.inputs,
                "snapshot": {
                    p: {"value": r.value, "ts": r.ts.isoformat(), "quality": r.quality.value}
                    for p, r in snapshot.readings.items()
                },
                "rollback_kw": self.setpoints.get(command.asset, 0.0),
            },
            ts=now,
            dispatch_id=did,
        )
        approved = self._gate(command, snapshot, now)
        if approved is None:
            return
        report = self._simulate(approved, snapshot, now)
        if not report.ok:
            self.counts["blocked"] += 1
            self.events.append(
                "dispatch.blocked", {"reason": report.summary()}, ts=now, dispatch_id=did
            )
            return
        need = approvals.requirement(approved.value, self.config.approvals)
        if need is approvals.Requirement.AUTO or self.auto_approve:
            reason = (
                f"|{approved.value:g}| kW <= auto-approve limit "
                f"{self.config.approvals.auto_approve_max_kw:g} kW"
                if need is approvals.Requirement.AUTO
                else f"demo --auto-approve (policy requires {need.value})"
            )
            self.counts["approved"] += 1
            self.events.append(
                "approval.auto",
                {"requirement": need.value, "reason": reason},
                ts=now,
                dispatch_id=did,
            )
            await self.send(approved, now)
            return
        expires = now + timedelta(seconds=self.config.approvals.expiry_s)
        self.counts["awaiting_approval"] += 1
        self.events.append(
            approvals.REQUESTED,
            {
                "requirement": need.value,
                "expires_at": expires.isoformat(),
                "asset": command.asset,
                "value": approved.value,
                "rationale": proposal.rationale,
                "simulation": report.summary(),
            },
            ts=now,
            dispatch_id=did,
        )
        self._awaiting[did] = (command, proposal)
        log.info("dispatch %s awaits %s: gridaios approvals approve %s", did, need.value, did)

    def _gate(
        self, command: Command, snapshot: StateSnapshot, now: datetime
    ) -> ApprovedCommand | None:
        (verdict,) = evaluate([command], snapshot, self.envelope, now)
        self.events.append("dispatch.gated", verdict_json(verdict), ts=now, dispatch_id=command.key)
        match verdict:
            case Rejected():
                self.counts["rejected"] += 1
                reasons = "; ".join(h.reason for h in verdict.hits)
                self.events.append(
                    "dispatch.rejected", {"reason": reasons}, ts=now, dispatch_id=command.key
                )
                return None
            case Clamped():
                self.counts["clamped"] += 1
                return verdict.approved
            case Accepted():
                return verdict.approved

    def _simulate(
        self, approved: ApprovedCommand, snapshot: StateSnapshot, now: datetime
    ) -> ValidationReport:
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
        report = validate_plan(
            [
                approved.command
                if approved.value == approved.command.value
                else _with_value(approved)
            ],
            TwinState(soc_pct=soc, p_kw=p_kw, uncontrolled_net_kw=uncontrolled),
            self.twin,
            now,
            approved.end - approved.start,
        )
        self.events.append(
            "dispatch.simulated", report_json(report), ts=now, dispatch_id=approved.key
        )
        return report

    # --- approvals ----------------------------------------------------------

    async def check_approvals(self, now: datetime) -> None:
        if not self._awaiting:
            return
        open_requests = {p.dispatch_id: p for p in approvals.pending(self.events)}
        for did in list(self._awaiting):
            command, _ = self._awaiting[did]
            request = open_requests.get(did)
            if request is None:  # rejected by an operator, or otherwise closed
                self._awaiting.pop(did)
                self.counts["rejected_by_operator"] += 1
                continue
            if now >= request.expires_at:
                self._awaiting.pop(did)
                self.counts["expired"] += 1
                self.events.append(
                    "approval.expired",
                    {"reason": "no decision before expiry; setpoint left unchanged"},
                    ts=now,
                    dispatch_id=did,
                )
                continue
            if len(set(request.approvers)) < request.requirement.approvers:
                continue
            self._awaiting.pop(did)
            # Re-check against fresh state: a stale approval cannot dispatch.
            approved = self._gate(command, self.state.snapshot(), now)
            if approved is None:
                continue
            self.counts["approved"] += 1
            await self.send(approved, now)

    def _supersede(self, asset: str, now: datetime) -> None:
        for did, (command, _) in list(self._awaiting.items()):
            if command.asset == asset:
                self._awaiting.pop(did)
                self.counts["superseded"] += 1
                self.events.append(
                    "dispatch.superseded",
                    {"reason": "a newer proposal for the same asset replaced it"},
                    ts=now,
                    dispatch_id=did,
                )

    # --- dispatch -----------------------------------------------------------

    async def send(self, approved: ApprovedCommand, now: datetime) -> WriteResult | None:
        battery = self.config.battery(approved.asset)
        source = battery.points["p_setpoint_kw"].source
        did = approved.key
        # Durable before visible: the event is fsync'd before the write goes out.
        self.events.append(
            "dispatch.sent",
            {
                "value": approved.value,
                "source": source,
                "rollback_kw": self.setpoints.get(approved.asset, 0.0),
            },
            ts=now,
            dispatch_id=did,
        )
        self.counts["sent"] += 1
        try:
            result = await self._clients[source].write(approved, site.write_target(battery))
        except ConnectorError as err:
            self.counts["failed"] += 1
            self.events.append(
                "dispatch.failed", {"reason": str(err)}, ts=self.clock(), dispatch_id=did
            )
            return None
        self.counts["acked"] += 1
        self.events.append(
            "dispatch.acked",
            {"applied_key": result.applied_key, "readback_kw": result.readback_value},
            ts=self.clock(),
            dispatch_id=did,
        )
        if result.verified:
            self.counts["verified"] += 1
            self.setpoints[approved.asset] = approved.value
            self.events.append(
                "dispatch.verified", {"value": approved.value}, ts=self.clock(), dispatch_id=did
            )
        else:
            self.counts["failed"] += 1
            self.events.append(
                "dispatch.failed",
                {
                    "reason": f"read-back {result.readback_value:g} / key {result.applied_key!r} "
                    f"does not match {approved.value:g} / {did!r}"
                },
                ts=self.clock(),
                dispatch_id=did,
            )
        return result


def _with_value(approved: ApprovedCommand) -> Command:
    c = approved.command
    return Command(
        key=c.key,
        asset=c.asset,
        kind=c.kind,
        value=approved.value,
        start=c.start,
        end=c.end,
        origin=c.origin,
    )

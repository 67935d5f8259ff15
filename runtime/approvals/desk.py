"""The conductor's approval desk: record a request, then act on the book each tick.

The rules are pure (``runtime.approvals.book``, ``runtime.decide.approval_rule``); the
desk records an ``approval.requested`` bound to its plan, restores open requests after a
restart, escalates unanswered ones, expires them, and hands a fully granted plan back
once (``Granted``: the conductor re-checks it against fresh state and sends it). It
holds the waiting plans itself and takes the log, the rules and a counter: never the
conductor.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta

from runtime.approvals import book as approvals
from runtime.approvals import pending
from runtime.approvals.identity import loose_user, same_user
from runtime.config.model import ApprovalsConfig
from runtime.core.errors import GridaiosError
from runtime.decide.policy import Proposal
from runtime.decide.step import Decision
from runtime.log import events as ev
from runtime.log import records
from runtime.log.dispatch import Projections, State
from runtime.log.eventlog import EventLog
from safety import Command

log = logging.getLogger("runtime.conductor")  # operators follow one logger for dispatch

# A plan with every grant it needs: (dispatch id, the approved command, now).
Granted = Callable[[str, Command, datetime], Awaitable[object]]


class ApprovalDesk:
    def __init__(self, rules: ApprovalsConfig, events: EventLog, counts: Counter[str]) -> None:
        self.rules = rules
        self.events = events
        self.counts = counts
        self.awaiting: dict[str, Command] = {}  # the plan each request binds, by dispatch id
        self.escalate_at: dict[str, datetime] = {}  # requests not escalated yet

    def request(
        self,
        decision: Decision,
        now: datetime,
        *,
        proposed_by: str,
        rollback_kw: float,
        plot: str | None = None,
    ) -> None:
        """Record the request, bound to the plan the gate allows (its value, its hash)."""
        approved = decision.approved
        assert approved is not None and decision.requirement is not None
        did = approved.key
        rules = self.rules
        escalate_at = now + timedelta(seconds=rules.escalate_after_s)
        planned = replace(approved.command, value=approved.value)  # what the operators approve
        plan = [records.command_body(planned)]
        grid, report = decision.grid, decision.validation
        self.counts["awaiting_approval"] += 1
        self.events.append_event(
            ev.ApprovalRequested(
                requirement=decision.requirement.value,
                expires_at=now + timedelta(seconds=rules.expiry_s),
                asset=planned.asset,
                value=approved.value,
                rationale=decision.proposal.rationale,
                simulation=grid.summary
                if grid is not None
                else report.summary()
                if report is not None
                else "",
                grid_report=grid.report if grid is not None else None,
                plot=plot,
                commands=plan,
                plan_hash=approvals.plan_hash([b.model_dump(mode="json") for b in plan]),
                proposed_by=proposed_by,
                rollback_kw=rollback_kw,
                escalate_at=escalate_at,
            ),
            ts=now,
            dispatch_id=did,
        )
        self.awaiting[did] = planned
        self.escalate_at[did] = escalate_at
        log.info(
            "dispatch %s awaits %s: gridaios approvals approve %s",
            did,
            decision.requirement.value,
            did,
        )

    def restore(self, projections: Projections) -> None:
        """Requests still open in the log wait again: the plan they bind, their escalation."""
        for record in projections.open.values():
            if record.state is not State.AWAITING_APPROVAL:
                continue
            did = record.dispatch_id
            try:
                pending = approvals.find_pending(self.events, did)
            except GridaiosError as err:
                log.warning("approval request %s not restored: %s", did, err)
                continue
            plan = pending.request.get("commands") or [record.command]  # v1: no plan recorded
            self.awaiting[did] = records.command_from(plan[0])
            if not pending.escalated:
                at = pending.request.get("escalate_at")
                self.escalate_at[did] = (
                    datetime.fromisoformat(str(at))
                    if at
                    else pending.requested_at + timedelta(seconds=self.rules.escalate_after_s)
                )

    def reconfirm(self, proposal: Proposal, now: datetime, projections: Projections) -> bool:
        """True when ``proposal`` leaves a waiting request standing (``approvals.pending``):
        the later cycle is recorded on the request, whose expiry and escalation hold."""
        command = proposal.command
        requests = {
            did: record.command
            for did in self.awaiting
            if (record := projections.open.get(did)) is not None
            and record.state is State.AWAITING_APPROVAL
        }
        match = pending.standing(
            requests,
            command.asset,
            command.kind.value,
            command.value,
            start=command.start,
            end=command.end,
        )
        if match is None:
            return False
        self.counts["reconfirmed"] += 1
        self.events.append_event(
            ev.ApprovalReconfirmed(
                proposed_kw=command.value,
                pending_kw=match.pending_kw,
                tolerance_kw=match.tolerance_kw,
                rationale=proposal.rationale,
            ),
            ts=now,
            dispatch_id=match.dispatch_id,
        )
        return True

    def supersede(self, asset: str, now: datetime, *, successor: str | None = None) -> None:
        """A newer proposal for the same asset, beyond the tolerance, replaces the
        requests still waiting for it (each names its successor)."""
        for did, command in list(self.awaiting.items()):
            if command.asset == asset:
                self._forget(did)
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

    async def check(
        self, now: datetime, projections: Callable[[], Projections], granted: Granted
    ) -> None:
        """Expire, escalate, or hand back what operators approved (once).

        A request with every grant it needs leaves the waiting set before ``granted`` is
        called, so it dispatches at most once; after a restart only requests still
        awaiting approval in the log wait again (``restore``). ``projections``: the
        dispatch projections brought up to date with the log (operators' events).
        """
        if not self.awaiting:
            return
        book = projections()
        for did in list(self.awaiting):
            command = self.awaiting[did]
            record = book.open.get(did)
            if record is None or record.state is not State.AWAITING_APPROVAL:
                self._forget(did)  # rejected by an operator, or otherwise closed
                self.counts["rejected_by_operator"] += 1
                continue
            if now >= datetime.fromisoformat(record.expires_at):
                self._forget(did)
                self.counts["expired"] += 1
                self.events.append_event(
                    ev.ApprovalExpired(reason="no decision before expiry; setpoint left unchanged"),
                    ts=now,
                    dispatch_id=did,
                )
                continue
            needed = approvals.Requirement(record.requirement).approvers
            if len(set(record.approvers)) < needed or not self._grants_valid(did, needed):
                self._escalate(did, now)
                continue
            self._forget(did)  # used once: from here on it can only be sent or stopped
            await granted(did, command, now)

    def _forget(self, did: str) -> None:
        self.awaiting.pop(did, None)
        self.escalate_at.pop(did, None)

    def _grants_valid(self, did: str, needed: int) -> bool:
        """Defence in depth: count only grants of the pending plan by someone not its proposer."""
        try:
            pending = approvals.find_pending(self.events, did)
        except GridaiosError:
            return False
        users = {
            loose_user(str(e.payload["user"]))
            for e in self.events.events(dispatch_id=did, kinds=(approvals.GRANTED,))
            if e.payload.get("plan_hash") == pending.plan_hash
            and not same_user(str(e.payload["user"]), pending.proposed_by)
        }
        return len(users) >= needed

    def _escalate(self, did: str, now: datetime) -> None:
        """Unanswered past ``escalate_after_s``: one event and one WARNING naming who to call."""
        at = self.escalate_at.get(did)
        if at is None or now < at:
            return
        del self.escalate_at[did]
        rules = self.rules
        who = ", ".join(rules.escalate_to)
        self.counts["escalated"] += 1
        self.events.append_event(
            ev.ApprovalEscalated(
                after_s=rules.escalate_after_s,
                escalate_to=list(rules.escalate_to),
                reason=f"no decision {rules.escalate_after_s:g} s after the request; call {who}",
            ),
            ts=now,
            dispatch_id=did,
        )
        log.warning(
            "dispatch %s unanswered for %g s: call %s (gridaios approvals show %s --db %s)",
            did,
            rules.escalate_after_s,
            who,
            did,
            self.events.path,
        )

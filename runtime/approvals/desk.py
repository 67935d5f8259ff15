"""The conductor's approval shell: record a request, then act on the book each tick.

The rules are pure (``runtime.approvals.book``); this is where the conductor records an
``approval.requested`` bound to its plan, restores open requests after a restart,
escalates unanswered ones, expires them, and sends a fully granted plan once,
after re-gating and re-validating it against fresh state.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from runtime.approvals import book as approvals
from runtime.core.errors import GridaiosError
from runtime.decide.gridcheck import GridCheck
from runtime.decide.policy import Proposal
from runtime.log import events as ev
from runtime.log import records
from runtime.log.dispatch import State
from safety import ApprovedCommand
from simulator import ValidationReport

if TYPE_CHECKING:
    from runtime.conductor.loop import Conductor

log = logging.getLogger("runtime.conductor")  # operators follow one logger for dispatch


def request(
    c: Conductor,
    approved: ApprovedCommand,
    need: approvals.Requirement,
    proposal: Proposal,
    report: ValidationReport,
    grid: GridCheck | None,
    now: datetime,
    *,
    proposed_by: str,
    rollback_kw: float,
) -> None:
    """Record the request, bound to the plan the gate allows (its value, its hash)."""
    did = approved.key
    rules = c.config.approvals
    escalate_at = now + timedelta(seconds=rules.escalate_after_s)
    planned = replace(approved.command, value=approved.value)  # what the operators approve
    plan = [records.command_body(planned)]
    c.counts["awaiting_approval"] += 1
    c.events.append_event(
        ev.ApprovalRequested(
            requirement=need.value,
            expires_at=now + timedelta(seconds=rules.expiry_s),
            asset=planned.asset,
            value=approved.value,
            rationale=proposal.rationale,
            simulation=grid.summary if grid is not None else report.summary(),
            grid_report=grid.report if grid is not None else None,
            plot=c.grid.plot(grid, did) if c.grid and grid else None,
            commands=plan,
            plan_hash=approvals.plan_hash([b.model_dump(mode="json") for b in plan]),
            proposed_by=proposed_by,
            rollback_kw=rollback_kw,
            escalate_at=escalate_at,
        ),
        ts=now,
        dispatch_id=did,
    )
    c._awaiting[did] = planned
    c._escalate_at[did] = escalate_at
    log.info("dispatch %s awaits %s: gridaios approvals approve %s", did, need.value, did)


def restore(c: Conductor) -> None:
    """Requests still open in the log wait again: the plan they bind, their escalation."""
    for record in c.projections.open.values():
        if record.state is not State.AWAITING_APPROVAL:
            continue
        did = record.dispatch_id
        try:
            pending = approvals.find_pending(c.events, did)
        except GridaiosError as err:
            log.warning("approval request %s not restored: %s", did, err)
            continue
        plan = pending.request.get("commands") or [record.command]  # v1: no plan recorded
        c._awaiting[did] = records.command_from(plan[0])
        if not pending.escalated:
            at = pending.request.get("escalate_at")
            c._escalate_at[did] = (
                datetime.fromisoformat(str(at))
                if at
                else pending.requested_at + timedelta(seconds=c.config.approvals.escalate_after_s)
            )


async def check(c: Conductor, now: datetime) -> None:
    """Expire, escalate, or send what operators approved (once, if still safe).

    A request with every grant it needs leaves the waiting set before anything is
    sent, so it dispatches at most once; after a restart only requests still
    awaiting approval in the log wait again (``restore``). Before sending, the
    approved plan is re-gated and re-validated (simulator and power flow) against
    fresh state; a plan that now fails is blocked with the reason, nothing sent.
    """
    if not c._awaiting:
        return
    c._refresh()
    for did in list(c._awaiting):
        command = c._awaiting[did]
        record = c.projections.open.get(did)
        if record is None or record.state is not State.AWAITING_APPROVAL:
            _forget(c, did)  # rejected by an operator, or otherwise closed
            c.counts["rejected_by_operator"] += 1
            continue
        if now >= datetime.fromisoformat(record.expires_at):
            _forget(c, did)
            c.counts["expired"] += 1
            c.events.append_event(
                ev.ApprovalExpired(reason="no decision before expiry; setpoint left unchanged"),
                ts=now,
                dispatch_id=did,
            )
            continue
        needed = approvals.Requirement(record.requirement).approvers
        if len(set(record.approvers)) < needed or not _grants_valid(c, did, needed):
            _escalate(c, did, now)
            continue
        _forget(c, did)  # used once: from here on it can only be sent or stopped
        snapshot = c.state.snapshot()
        # Re-check against fresh state: a stale approval cannot dispatch.
        approved = c.gate(command, snapshot, now, recheck=True)
        if approved is None:
            continue
        failure = c._revalidate(approved, snapshot, now)
        if failure:
            c.counts["blocked"] += 1
            reason = f"re-validation at approval against fresh state: {failure}; nothing sent"
            log.warning("approved dispatch %s blocked: %s", did, reason)
            c.events.append_event(ev.DispatchBlocked(reason=reason), ts=now, dispatch_id=did)
            continue
        c.counts["approved"] += 1
        await c.send(approved, now)


def _forget(c: Conductor, did: str) -> None:
    c._awaiting.pop(did, None)
    c._escalate_at.pop(did, None)


def _grants_valid(c: Conductor, did: str, needed: int) -> bool:
    """Defence in depth: count only grants of the pending plan by someone not its proposer."""
    try:
        pending = approvals.find_pending(c.events, did)
    except GridaiosError:
        return False
    users = {
        str(e.payload["user"])
        for e in c.events.events(dispatch_id=did, kinds=(approvals.GRANTED,))
        if e.payload.get("plan_hash") == pending.plan_hash
        and str(e.payload["user"]) != pending.proposed_by
    }
    return len(users) >= needed


def _escalate(c: Conductor, did: str, now: datetime) -> None:
    """Unanswered past ``escalate_after_s``: one event and one WARNING naming who to call."""
    at = c._escalate_at.get(did)
    if at is None or now < at:
        return
    del c._escalate_at[did]
    rules = c.config.approvals
    who = ", ".join(rules.escalate_to)
    c.counts["escalated"] += 1
    c.events.append_event(
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
        c.events.path,
    )

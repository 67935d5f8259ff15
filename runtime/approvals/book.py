"""Approval rules (pure) and the approval book kept in the event log.

An operator's grant is bound to the plan they reviewed: ``plan_hash`` is the sha256
of the canonical JSON of the plan's commands, recorded in ``approval.requested``;
a grant carrying another hash is refused. The proposer of a plan cannot approve it,
the two-person rule needs two distinct operators, and a request that has all the
grants it needs takes no more: the conductor dispatches it at most once, after
re-gating and re-validating it against fresh state. Reading views of the book
(``detail``, ``metrics``) live in ``runtime.approvals.views`` and are re-exported here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from runtime.approvals.views import (
    AUTO,
    ESCALATED,
    EXPIRED,
    GRANTED,
    NEEDED,
    REFUSED,
    REQUESTED,
    TERMINAL,
    ApprovalMetrics,
    MetricsFold,
    describe_plan,
    detail,
    metrics,
)
from runtime.config.model import ApprovalsConfig
from runtime.core.errors import GridaiosError, NotFound
from runtime.log.eventlog import Event, EventLog


class Requirement(StrEnum):
    AUTO = "auto"
    ONE_OPERATOR = "one_operator"
    TWO_OPERATORS = "two_operators"

    @property
    def approvers(self) -> int:
        return NEEDED[self.value]


def requirement(value_kw: float, config: ApprovalsConfig) -> Requirement:
    """Below the auto threshold: automatic; at or above the second threshold: two people."""
    magnitude = abs(value_kw)
    if magnitude <= config.auto_approve_max_kw:
        return Requirement.AUTO
    if magnitude >= config.two_person_min_kw:
        return Requirement.TWO_OPERATORS
    return Requirement.ONE_OPERATOR


# --- the plan an approval is bound to ----------------------------------------------


def _canon(key: str, value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return f"{float(value):.6f}"  # 200, 200.0 and 200.0000001 hash alike
    if key in ("start", "end"):
        at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return at.astimezone(UTC).isoformat()
    return str(value)


def plan_hash(commands: Sequence[Mapping[str, Any]]) -> str:
    """sha256 of the plan's canonical JSON: sorted keys, floats at 6 decimals, UTC times."""
    canonical = [{k: _canon(k, v) for k, v in sorted(c.items())} for c in commands]
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --- the book ----------------------------------------------------------------------


class ApprovalError(GridaiosError):
    """An approval action is not allowed (already decided, same person twice, wrong plan...)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingApproval:
    dispatch_id: str
    requested_at: datetime
    expires_at: datetime
    requirement: Requirement
    approvers: tuple[str, ...]
    request: dict[str, Any]
    plan_hash: str | None = None
    proposed_by: str = ""
    escalated: bool = False

    @property
    def complete(self) -> bool:
        """Every grant the rule needs is in: the runtime dispatches it next (once)."""
        return len(set(self.approvers)) >= self.requirement.approvers


BOOK_KINDS = (REQUESTED, GRANTED, ESCALATED, *TERMINAL)  # the events the book folds


@dataclass(slots=True)
class BookFold:
    """The approval book as a fold, one event at a time: open requests, oldest first, and
    for closed ones the kind of event that closed them (``closed=None``: not kept).

    The one place the book's rules live: a full read of the log (``pending``,
    ``find_pending``) and the incremental ``runtime.approvals.projection`` both apply it.
    """

    open: dict[str, PendingApproval] = field(default_factory=dict)
    closed: dict[str, str] | None = field(default_factory=dict)

    def apply(self, event: Event) -> None:
        did = event.dispatch_id
        if did is None or event.kind not in BOOK_KINDS:
            return
        p = event.payload
        if event.kind == REQUESTED:
            self.open[did] = PendingApproval(
                dispatch_id=did,
                requested_at=event.ts,
                expires_at=datetime.fromisoformat(str(p["expires_at"])),
                requirement=Requirement(p["requirement"]),
                approvers=(),
                request=dict(p),
                plan_hash=p.get("plan_hash"),
                proposed_by=str(p.get("proposed_by") or ""),
            )
            if self.closed is not None:
                self.closed.pop(did, None)
        elif did not in self.open:
            return
        elif event.kind == GRANTED:
            old = self.open[did]
            self.open[did] = replace(old, approvers=(*old.approvers, str(p["user"])))
        elif event.kind == ESCALATED:
            self.open[did] = replace(self.open[did], escalated=True)
        else:
            self.open.pop(did)
            if self.closed is not None:
                self.closed[did] = event.kind


def _fold(log: EventLog, dispatch_id: str | None = None) -> BookFold:
    book = BookFold()
    for event in log.events(dispatch_id=dispatch_id, kinds=BOOK_KINDS):
        book.apply(event)
    return book


def pending(log: EventLog) -> list[PendingApproval]:
    """Every dispatch waiting for an operator, oldest first."""
    return list(_fold(log).open.values())


def find_pending(log: EventLog, dispatch_id: str) -> PendingApproval:
    """The open request; NotFound if there never was one, ApprovalError if it is closed."""
    book = _fold(log, dispatch_id)
    closed = book.closed or {}
    if dispatch_id in book.open:
        return book.open[dispatch_id]
    if dispatch_id in closed:
        raise ApprovalError(
            f"dispatch {dispatch_id} is not awaiting approval any more "
            f"({closed[dispatch_id]}): an approval is used once; see `gridaios explain "
            f"{dispatch_id}`"
        )
    raise NotFound(
        f"dispatch {dispatch_id} is not awaiting approval; see `gridaios approvals list`"
    )


def approve(
    log: EventLog,
    dispatch_id: str,
    user: str,
    reason: str,
    now: datetime,
    *,
    plan_hash: str | None = None,
) -> None:
    """Record one operator's grant of the plan they reviewed (``plan_hash``).

    Refused (ApprovalError): a closed request (decided, used, expired), a grant for
    another plan, the proposer approving their own plan, the same operator twice, a
    request that already has every grant it needs. Expiry is the runtime's call, on
    its clock (a demo runs in scenario time): it checks expiry before counting grants,
    so a grant that arrives late never dispatches.
    """
    request = find_pending(log, dispatch_id)
    if not user.strip():
        raise ApprovalError("an approval needs the operator's name (--user)")
    if request.plan_hash is not None and plan_hash != request.plan_hash:
        plan = describe_plan(request.request.get("commands", []))
        seen = f"the plan with hash {plan_hash[:12]}" if plan_hash else "no plan hash"
        raise ApprovalError(
            f"dispatch {dispatch_id}: your approval is for {seen}, but the pending plan is "
            f"{request.plan_hash[:12]} ({plan}); reload the request, review it, and approve "
            f"with its plan_hash"
        )
    if request.proposed_by and user == request.proposed_by:
        raise ApprovalError(
            f"{user} proposed {dispatch_id} and cannot approve it; another operator must"
        )
    if user in request.approvers:
        raise ApprovalError(
            f"{user} already approved {dispatch_id}; the two-person rule needs another operator"
        )
    if request.complete:
        raise ApprovalError(
            f"dispatch {dispatch_id} already has the approvals it needs "
            f"({', '.join(request.approvers)}); the runtime dispatches it once"
        )
    log.append(
        GRANTED,
        {"user": user, "reason": reason, "plan_hash": request.plan_hash},
        ts=now,
        dispatch_id=dispatch_id,
    )


def reject(log: EventLog, dispatch_id: str, user: str, reason: str, now: datetime) -> None:
    find_pending(log, dispatch_id)
    if not reason.strip():
        raise ApprovalError("a rejection needs a reason (--reason)")
    log.append(REFUSED, {"user": user, "reason": reason}, ts=now, dispatch_id=dispatch_id)


__all__ = [
    "AUTO",
    "BOOK_KINDS",
    "ESCALATED",
    "EXPIRED",
    "GRANTED",
    "REFUSED",
    "REQUESTED",
    "TERMINAL",
    "ApprovalError",
    "ApprovalMetrics",
    "BookFold",
    "MetricsFold",
    "PendingApproval",
    "Requirement",
    "approve",
    "describe_plan",
    "detail",
    "find_pending",
    "metrics",
    "pending",
    "plan_hash",
    "reject",
    "requirement",
]

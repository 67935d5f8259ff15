"""Approval rules (pure) and the approval book kept in the event log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from runtime.config import ApprovalsConfig
from runtime.errors import GridaiosError, NotFound
from runtime.eventlog import EventLog

REQUESTED = "approval.requested"
GRANTED = "approval.granted"
REFUSED = "approval.rejected"
TERMINAL = (
    "dispatch.approved",  # in the outbox: no longer waiting for anyone
    "dispatch.sent",
    "dispatch.rejected",
    "dispatch.blocked",
    "dispatch.superseded",
    "approval.expired",
    REFUSED,
)


class Requirement(StrEnum):
    AUTO = "auto"
    ONE_OPERATOR = "one_operator"
    TWO_OPERATORS = "two_operators"

    @property
    def approvers(self) -> int:
        return {"auto": 0, "one_operator": 1, "two_operators": 2}[self.value]


def requirement(value_kw: float, config: ApprovalsConfig) -> Requirement:
    """Below the auto threshold: automatic; at or above the second threshold: two people."""
    magnitude = abs(value_kw)
    if magnitude <= config.auto_approve_max_kw:
        return Requirement.AUTO
    if magnitude >= config.two_person_min_kw:
        return Requirement.TWO_OPERATORS
    return Requirement.ONE_OPERATOR


class ApprovalError(GridaiosError):
    """An approval action is not allowed (already decided, same person twice, ...)."""


@dataclass(frozen=True, slots=True)
class PendingApproval:
    dispatch_id: str
    requested_at: datetime
    expires_at: datetime
    requirement: Requirement
    approvers: tuple[str, ...]
    request: dict[str, Any]


def pending(log: EventLog) -> list[PendingApproval]:
    """Every dispatch waiting for an operator, oldest first."""
    requests: dict[str, PendingApproval] = {}
    for event in log.events(kinds=(REQUESTED, GRANTED, *TERMINAL)):
        did = event.dispatch_id
        if did is None:
            continue
        if event.kind == REQUESTED:
            p = event.payload
            requests[did] = PendingApproval(
                dispatch_id=did,
                requested_at=event.ts,
                expires_at=datetime.fromisoformat(p["expires_at"]),
                requirement=Requirement(p["requirement"]),
                approvers=(),
                request=dict(p),
            )
        elif event.kind == GRANTED and did in requests:
            old = requests[did]
            requests[did] = PendingApproval(
                old.dispatch_id,
                old.requested_at,
                old.expires_at,
                old.requirement,
                (*old.approvers, str(event.payload["user"])),
                old.request,
            )
        elif event.kind in TERMINAL:
            requests.pop(did, None)
    return list(requests.values())


def find_pending(log: EventLog, dispatch_id: str) -> PendingApproval:
    for p in pending(log):
        if p.dispatch_id == dispatch_id:
            return p
    raise NotFound(
        f"dispatch {dispatch_id} is not awaiting approval; see `gridaios approvals list`"
    )


def approve(log: EventLog, dispatch_id: str, user: str, reason: str, now: datetime) -> None:
    request = find_pending(log, dispatch_id)
    if user in request.approvers:
        raise ApprovalError(
            f"{user} already approved {dispatch_id}; the two-person rule needs another operator"
        )
    log.append(GRANTED, {"user": user, "reason": reason}, ts=now, dispatch_id=dispatch_id)


def reject(log: EventLog, dispatch_id: str, user: str, reason: str, now: datetime) -> None:
    find_pending(log, dispatch_id)
    if not reason:
        raise ApprovalError("a rejection needs a reason (--reason)")
    log.append(REFUSED, {"user": user, "reason": reason}, ts=now, dispatch_id=dispatch_id)

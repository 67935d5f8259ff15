"""The dispatch state machine (pure) and the projections rebuilt from the event log.

    proposed -> gated -> simulated -> awaiting_approval -> approved -> sent -> acked -> verified
                  |          |               |                |         |       |
                  v          v               v                v         v       v
              rejected    blocked   expired/superseded/    failed -> retried -> (sent ...)
                                    refused                   |
                                                              +-> dead_lettered / expired
    verified -> reverted

The state of a dispatch is a fold of its events; nothing else is the source of truth.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from runtime.log.eventlog import Event, EventLog

log = logging.getLogger(__name__)


class State(StrEnum):
    PROPOSED = "proposed"
    GATED = "gated"
    SIMULATED = "simulated"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    SENT = "sent"
    ACKED = "acked"
    VERIFIED = "verified"
    FAILED = "failed"
    RETRIED = "retried"
    REJECTED = "rejected"
    BLOCKED = "blocked"
    SUPERSEDED = "superseded"
    REFUSED = "refused"
    EXPIRED = "expired"
    DEAD_LETTERED = "dead_lettered"
    REVERTED = "reverted"


TERMINAL = frozenset(
    {
        State.VERIFIED,
        State.REJECTED,
        State.BLOCKED,
        State.SUPERSEDED,
        State.REFUSED,
        State.EXPIRED,
        State.REVERTED,
    }
)
# Waiting for a human (``gridaios dlq retry|drop``): kept open, never resumed on its own.
PARKED = frozenset({State.DEAD_LETTERED})
# In the outbox: durably approved, not yet verified or given up. Restart resumes these.
IN_FLIGHT = frozenset({State.APPROVED, State.SENT, State.ACKED, State.FAILED, State.RETRIED})

# Before approval: a run that stops here never reached the outbox.
UNDECIDED = frozenset({State.PROPOSED, State.GATED, State.SIMULATED})

# event kind -> (states it may follow, state it leads to)
_S = State
TRANSITIONS: dict[str, tuple[frozenset[State | None], State]] = {
    "dispatch.proposed": (frozenset({None}), _S.PROPOSED),
    "dispatch.gated": (frozenset({_S.PROPOSED, _S.AWAITING_APPROVAL, *IN_FLIGHT}), _S.GATED),
    "dispatch.rejected": (frozenset({_S.GATED}), _S.REJECTED),
    "dispatch.simulated": (frozenset({_S.GATED}), _S.SIMULATED),
    "dispatch.blocked": (frozenset({_S.SIMULATED}), _S.BLOCKED),
    "approval.requested": (frozenset({_S.SIMULATED}), _S.AWAITING_APPROVAL),
    "approval.granted": (frozenset({_S.AWAITING_APPROVAL}), _S.AWAITING_APPROVAL),
    "approval.rejected": (frozenset({_S.AWAITING_APPROVAL}), _S.REFUSED),
    "approval.expired": (frozenset({_S.AWAITING_APPROVAL}), _S.EXPIRED),
    "dispatch.superseded": (frozenset({_S.AWAITING_APPROVAL}), _S.SUPERSEDED),
    "approval.auto": (frozenset({_S.SIMULATED}), _S.SIMULATED),
    "dispatch.approved": (frozenset({_S.SIMULATED, _S.GATED}), _S.APPROVED),
    "dispatch.resumed": (IN_FLIGHT, _S.RETRIED),
    # SIMULATED / GATED -> sent: skeleton (v1) logs had no dispatch.approved step
    "dispatch.sent": (frozenset({_S.APPROVED, _S.RETRIED, _S.GATED, _S.SIMULATED}), _S.SENT),
    "dispatch.acked": (frozenset({_S.SENT}), _S.ACKED),
    "dispatch.verified": (frozenset({_S.ACKED}), _S.VERIFIED),
    "dispatch.failed": (frozenset({_S.GATED, _S.APPROVED, *IN_FLIGHT}), _S.FAILED),
    "dispatch.retried": (frozenset({_S.FAILED, _S.DEAD_LETTERED}), _S.RETRIED),
    "dispatch.dead_lettered": (frozenset({_S.FAILED, *IN_FLIGHT}), _S.DEAD_LETTERED),
    # also a decision cut short by a crash before approval: closed at restart, never sent
    "dispatch.expired": (
        frozenset({*IN_FLIGHT, *UNDECIDED, _S.DEAD_LETTERED}),
        _S.EXPIRED,
    ),
    "dispatch.reverted": (frozenset({_S.VERIFIED}), _S.REVERTED),
}


class IllegalTransition(ValueError):
    """An event that cannot follow the dispatch's current state."""


def next_state(current: State | None, kind: str) -> State | None:
    """The state after ``kind``; unchanged for kinds outside the machine. Pure."""
    rule = TRANSITIONS.get(kind)
    if rule is None:
        return current
    allowed, target = rule
    if current not in allowed:
        raise IllegalTransition(
            f"{kind} cannot follow state {current.value if current else 'none'}"
        )
    return target


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchRecord:
    dispatch_id: str
    state: State
    asset: str = ""
    value: float | None = None
    source: str = ""
    rollback_kw: float = 0.0
    attempts: int = 0
    max_attempts: int = 5
    command: dict[str, Any] = field(default_factory=dict)
    last_seq: int = 0
    requirement: str = ""  # approval rule outcome, when an operator must sign off
    expires_at: str = ""
    approvers: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "dispatch_id": self.dispatch_id,
            "state": self.state.value,
            "asset": self.asset,
            "value": self.value,
            "source": self.source,
            "rollback_kw": self.rollback_kw,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "command": self.command,
            "last_seq": self.last_seq,
            "requirement": self.requirement,
            "expires_at": self.expires_at,
            "approvers": list(self.approvers),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DispatchRecord:
        return cls(**{**d, "state": State(d["state"]), "approvers": tuple(d["approvers"])})


def fold(record: DispatchRecord | None, event: Event) -> DispatchRecord | None:
    """One dispatch's record after ``event``. Pure."""
    did = event.dispatch_id
    if did is None or event.kind not in TRANSITIONS:
        return record
    state = next_state(record.state if record else None, event.kind)
    assert state is not None
    p = event.payload
    base = record or DispatchRecord(dispatch_id=did, state=state)
    base = replace(base, state=state, last_seq=event.seq)
    match event.kind:
        case "dispatch.proposed":
            cmd = dict(p["command"])
            return replace(
                base,
                asset=str(cmd["asset"]),
                value=float(cmd["value"]),
                command=cmd,
                rollback_kw=float(p["rollback_kw"]),
            )
        case "dispatch.approved":
            return replace(
                base,
                value=float(p["value"]),
                source=str(p["source"]),
                rollback_kw=float(p["rollback_kw"]),
                max_attempts=int(p["max_attempts"]),
                command=dict(p["command"]),
                asset=str(p["command"]["asset"]),
            )
        case "dispatch.sent":
            return replace(base, attempts=max(base.attempts, int(p["attempt"])))
        case "approval.requested":
            return replace(base, requirement=str(p["requirement"]), expires_at=str(p["expires_at"]))
        case "approval.granted":
            return replace(base, approvers=(*base.approvers, str(p["user"])))
    return base


class Projections:
    """Dispatch states (open ones), asset setpoints and counts, folded from events.

    Terminal dispatches leave the open set, so the projection stays small however
    long the log grows; ``explain`` reads a dispatch's whole history from the log.
    """

    SNAPSHOT = "projections.v1"

    def __init__(self) -> None:
        self.open: dict[str, DispatchRecord] = {}
        self.setpoints: dict[str, float] = {}  # asset -> last verified value
        self.last_key: dict[str, str] = {}  # asset -> key of the newest dispatch sent
        self.counts: dict[str, int] = {}
        self.seq = 0

    def apply(self, event: Event) -> None:
        self.seq = event.seq
        did = event.dispatch_id
        if did is None or event.kind not in TRANSITIONS:
            return
        if event.kind == "dispatch.reverted":  # the original left the open set when verified
            self.setpoints[str(event.payload["asset"])] = float(event.payload["value"])
            self.counts[State.REVERTED.value] = self.counts.get(State.REVERTED.value, 0) + 1
            return
        try:
            record = fold(self.open.get(did), event)
        except IllegalTransition as err:
            log.warning(
                "event %d for dispatch %s ignored by the projection: %s", event.seq, did, err
            )
            return
        if record is None:
            return
        self.counts[record.state.value] = self.counts.get(record.state.value, 0) + 1
        if event.kind == "dispatch.sent":
            self.last_key[record.asset] = did
        if record.state is State.VERIFIED and record.value is not None:
            self.setpoints[record.asset] = record.value
        if record.state in TERMINAL:
            self.open.pop(did, None)
        else:
            self.open[did] = record

    def in_flight(self) -> list[DispatchRecord]:
        return sorted(
            (r for r in self.open.values() if r.state in IN_FLIGHT), key=lambda r: r.last_seq
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "open": [r.to_json() for r in self.open.values()],
            "setpoints": self.setpoints,
            "last_key": self.last_key,
            "counts": self.counts,
            "seq": self.seq,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Projections:
        p = cls()
        p.open = {r["dispatch_id"]: DispatchRecord.from_json(r) for r in d["open"]}
        p.setpoints = {k: float(v) for k, v in d["setpoints"].items()}
        p.last_key = dict(d["last_key"])
        p.counts = {k: int(v) for k, v in d["counts"].items()}
        p.seq = int(d["seq"])
        return p

    @classmethod
    def load(cls, log: EventLog) -> Projections:
        """Newest valid snapshot, then every event after it."""
        snap = log.load_snapshot(cls.SNAPSHOT)
        proj = cls.from_json(snap[1]) if snap else cls()
        kinds = tuple(TRANSITIONS)
        # the head before the query: an event another process appends meanwhile is either in
        # the query or after the cursor, never skipped (the head after could pass it unread)
        head = log.head()[0]
        for event in log.events(after_seq=proj.seq, kinds=kinds):
            proj.apply(event)
        proj.seq = max(proj.seq, head)
        return proj

    def save(self, log: EventLog) -> None:
        log.save_snapshot(self.SNAPSHOT, self.seq, self.to_json())

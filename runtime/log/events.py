"""Typed, versioned events: a pydantic discriminated union on ``kind``.

Each event type carries a schema version ``v``. A record stored by an older
version is upcast on read (``runtime.log.upcast``), so readers only ever see the newest
shape while the stored bytes, and therefore the hash chain, never change.

Kinds not declared here (another package's events) are kept as ``UntypedEvent``:
stored and chained like any other, but not validated.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from runtime.log.alarm_events import (
    AlarmAcknowledged,
    AlarmCleared,
    AlarmRaised,
    AlarmShelved,
    OperatorNote,
)
from runtime.log.dispatch_events import (
    ApprovalAuto,
    ApprovalEscalated,
    ApprovalExpired,
    ApprovalGranted,
    ApprovalReconfirmed,
    ApprovalRejected,
    ApprovalRequested,
    DispatchAcked,
    DispatchApproved,
    DispatchBlocked,
    DispatchDeadLettered,
    DispatchExpired,
    DispatchFailed,
    DispatchGated,
    DispatchGridValidated,
    DispatchProposed,
    DispatchRejected,
    DispatchResumed,
    DispatchRetried,
    DispatchReverted,
    DispatchRevertRequested,
    DispatchSent,
    DispatchSimulated,
    DispatchSuperseded,
    DispatchVerified,
)
from runtime.log.dr_events import DrOptInDecided
from runtime.log.event_base import EventModel as _Event
from runtime.log.site_events import (
    AgentCurtailmentObserved,
    AgentDecided,
    AgentDrEventAccepted,
    AgentDrEventRejected,
    AgentEscalated,
    AgentFlagged,
    AgentIntentRequested,
    AgentObservationMismatch,
    AuthFailed,
    AuthLocked,
    AuthLogin,
    AuthTokenCreated,
    AuthUnlocked,
    AuthUserAdded,
    AuthUserChanged,
    CanaryDecision,
    CanaryPromoted,
    CanaryRolledBack,
    CanaryStarted,
    HealthChanged,
    HierarchyCapApplied,
    HierarchyCapRejected,
    HierarchyCapsAllocated,
    HierarchyControllerBack,
    HierarchyControllerLost,
    HierarchyPolicyAccepted,
    HierarchyPolicyPushed,
    HierarchyPolicyRejected,
    LogCompacted,
    RuntimeReady,
    RuntimeStarted,
    RuntimeStopped,
    TelemetrySample,
)
from runtime.log.upcast import upcast_to

TypedEvent = Annotated[
    RuntimeStarted
    | RuntimeReady
    | RuntimeStopped
    | HealthChanged
    | LogCompacted
    | TelemetrySample
    | DispatchProposed
    | DispatchGated
    | DispatchRejected
    | DispatchSimulated
    | DispatchGridValidated
    | DispatchBlocked
    | DispatchSuperseded
    | ApprovalReconfirmed
    | AlarmRaised
    | AlarmCleared
    | AlarmAcknowledged
    | AlarmShelved
    | OperatorNote
    | ApprovalRequested
    | ApprovalAuto
    | ApprovalGranted
    | ApprovalRejected
    | ApprovalExpired
    | ApprovalEscalated
    | DispatchApproved
    | DispatchSent
    | DispatchAcked
    | DispatchVerified
    | DispatchFailed
    | DispatchRetried
    | DispatchResumed
    | DispatchDeadLettered
    | DispatchExpired
    | DispatchRevertRequested
    | DispatchReverted
    | CanaryStarted
    | CanaryDecision
    | CanaryPromoted
    | CanaryRolledBack
    | HierarchyControllerLost
    | HierarchyControllerBack
    | HierarchyCapApplied
    | HierarchyCapRejected
    | HierarchyPolicyAccepted
    | HierarchyPolicyRejected
    | HierarchyCapsAllocated
    | HierarchyPolicyPushed
    | AgentDecided
    | AgentFlagged
    | AgentEscalated
    | AgentIntentRequested
    | AgentDrEventAccepted
    | AgentDrEventRejected
    | AgentObservationMismatch
    | AgentCurtailmentObserved
    | AuthUserAdded
    | AuthLogin
    | AuthFailed
    | AuthLocked
    | AuthUnlocked
    | AuthTokenCreated
    | AuthUserChanged
    | DrOptInDecided,
    Field(discriminator="kind"),
]

ADAPTER: TypeAdapter[TypedEvent] = TypeAdapter(TypedEvent)
KINDS: dict[str, type[_Event]] = {
    m.model_fields["kind"].default: m
    for m in _Event.__subclasses__()
    if "kind" in m.model_fields and "v" in m.model_fields
}
CURRENT_VERSION: dict[str, int] = {k: int(m.model_fields["v"].default) for k, m in KINDS.items()}
TELEMETRY_KINDS: frozenset[str] = frozenset({"telemetry.sample", "health.changed"})


class UntypedEvent(BaseModel):
    """A kind this module does not declare: stored and chained, not validated."""

    model_config = ConfigDict(frozen=True)
    kind: str
    payload: dict[str, Any]


class EventSchemaError(ValueError):
    """A payload does not match its event type: fix the producer."""


def upcast(kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload in the newest version of its kind (a payload without ``v`` is version 1)."""
    return upcast_to(kind, payload, CURRENT_VERSION.get(kind))


@functools.cache
def _list_adapter(kind: str) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[KINDS[kind]])  # type: ignore[valid-type]


def normalise_many(items: Sequence[_HasKindPayload]) -> list[dict[str, Any]]:
    """``normalise`` for a batch: one validation call per kind present."""
    bodies = [dict(item.payload) for item in items]
    groups: dict[str, list[dict[str, Any]]] = {}
    for item, body in zip(items, bodies, strict=True):
        current = CURRENT_VERSION.get(item.kind)
        if current is None:
            continue
        if body.setdefault("v", current) != current:
            raise EventSchemaError(
                f"event {item.kind}: new events are written at v{current}, got v{body['v']}"
            )
        body["kind"] = item.kind
        groups.setdefault(item.kind, []).append(body)
    try:
        for kind, group in groups.items():
            _list_adapter(kind).validate_python(group)
    except ValueError as err:
        raise EventSchemaError(f"event {kind}: payload does not match its schema: {err}") from err
    finally:
        for group in groups.values():
            for body in group:
                body.pop("kind", None)
    return bodies


class _HasKindPayload(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...


def parse(kind: str, payload: Mapping[str, Any]) -> TypedEvent | UntypedEvent:
    """Upcast, then validate into the typed model (or ``UntypedEvent`` for unknown kinds)."""
    if kind not in KINDS:
        return UntypedEvent(kind=kind, payload=dict(payload))
    try:
        return ADAPTER.validate_python({**upcast(kind, payload), "kind": kind})
    except ValueError as err:
        raise EventSchemaError(f"event {kind}: payload does not match its schema: {err}") from err


def dump(event: BaseModel) -> tuple[str, dict[str, Any]]:
    """(kind, payload) to store: JSON-safe, without the kind (it has its own column)."""
    body = event.model_dump(mode="json")
    kind = str(body.pop("kind"))
    return kind, body


def normalise(kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a payload given as a dict for a known kind; return what to store.

    The payload is stored as given (plus ``v``) once it validates: readers parse
    (and fill defaults) on read, so the write path stays cheap.
    """
    model = KINDS.get(kind)
    if model is None:
        return dict(payload)
    body = dict(payload)
    current = CURRENT_VERSION[kind]
    if body.setdefault("v", current) != current:
        raise EventSchemaError(
            f"event {kind}: new events are written at v{current}, got v{body['v']}"
        )
    body["kind"] = kind
    try:
        model.model_validate(body)
    except ValueError as err:
        raise EventSchemaError(f"event {kind}: payload does not match its schema: {err}") from err
    del body["kind"]
    return body


__all__ = [
    "ADAPTER",
    "CURRENT_VERSION",
    "KINDS",
    "TELEMETRY_KINDS",
    "AgentCurtailmentObserved",
    "AgentDecided",
    "AgentDrEventAccepted",
    "AgentDrEventRejected",
    "AgentEscalated",
    "AgentFlagged",
    "AgentIntentRequested",
    "AgentObservationMismatch",
    "AlarmAcknowledged",
    "AlarmCleared",
    "AlarmRaised",
    "AlarmShelved",
    "ApprovalAuto",
    "ApprovalEscalated",
    "ApprovalExpired",
    "ApprovalGranted",
    "ApprovalReconfirmed",
    "ApprovalRejected",
    "ApprovalRequested",
    "AuthFailed",
    "AuthLocked",
    "AuthLogin",
    "AuthTokenCreated",
    "AuthUnlocked",
    "AuthUserAdded",
    "AuthUserChanged",
    "CanaryDecision",
    "CanaryPromoted",
    "CanaryRolledBack",
    "CanaryStarted",
    "DispatchAcked",
    "DispatchApproved",
    "DispatchBlocked",
    "DispatchDeadLettered",
    "DispatchExpired",
    "DispatchFailed",
    "DispatchGated",
    "DispatchGridValidated",
    "DispatchProposed",
    "DispatchRejected",
    "DispatchResumed",
    "DispatchRetried",
    "DispatchRevertRequested",
    "DispatchReverted",
    "DispatchSent",
    "DispatchSimulated",
    "DispatchSuperseded",
    "DispatchVerified",
    "EventSchemaError",
    "HealthChanged",
    "HierarchyCapApplied",
    "HierarchyCapRejected",
    "HierarchyCapsAllocated",
    "HierarchyControllerBack",
    "HierarchyControllerLost",
    "HierarchyPolicyAccepted",
    "HierarchyPolicyPushed",
    "HierarchyPolicyRejected",
    "LogCompacted",
    "OperatorNote",
    "RuntimeReady",
    "RuntimeStarted",
    "RuntimeStopped",
    "TelemetrySample",
    "TypedEvent",
    "UntypedEvent",
    "dump",
    "normalise",
    "normalise_many",
    "parse",
    "upcast",
]

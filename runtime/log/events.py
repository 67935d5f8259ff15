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
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from runtime.log.upcast import upcast_to


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommandBody(_Event):
    key: str
    asset: str
    kind: str
    value: float
    start: datetime
    end: datetime
    origin: str


class ReadingBody(_Event):
    value: float
    ts: datetime
    quality: str


class HitBody(_Event):
    constraint: str
    reason: str
    limit: float | None = None
    observed: float | None = None


class TwinStateBody(_Event):
    soc_pct: dict[str, float]
    p_kw: dict[str, float]
    uncontrolled_net_kw: float


# --- runtime lifecycle -----------------------------------------------------------


class RuntimeStarted(_Event):
    kind: Literal["runtime.started"] = "runtime.started"
    v: Literal[2] = 2
    site: str
    sources: list[str]
    config: dict[str, Any] | None = None  # the whole site config: replay's input
    config_sha: str | None = None


class RuntimeReady(_Event):
    kind: Literal["runtime.ready"] = "runtime.ready"
    v: Literal[1] = 1
    resumed: list[str] = Field(default_factory=list)
    restored_from_seq: int = 0


class RuntimeStopped(_Event):
    kind: Literal["runtime.stopped"] = "runtime.stopped"
    v: Literal[1] = 1
    reason: str


class HealthChanged(_Event):
    kind: Literal["health.changed"] = "health.changed"
    v: Literal[1] = 1
    service: str
    state: str
    reason: str = ""


class LogCompacted(_Event):
    kind: Literal["log.compacted"] = "log.compacted"
    v: Literal[1] = 1
    before: datetime
    count: int
    kinds: list[str]


class TelemetrySample(_Event):
    """Telemetry-grade: compacted by retention; the chain keeps its digest."""

    kind: Literal["telemetry.sample"] = "telemetry.sample"
    v: Literal[1] = 1
    point: str
    value: float
    quality: str = "good"
    source_ts: datetime | None = None


# --- one dispatch ----------------------------------------------------------------


class DispatchProposed(_Event):
    kind: Literal["dispatch.proposed"] = "dispatch.proposed"
    v: Literal[2] = 2
    command: CommandBody
    policy: str
    rationale: str
    inputs: dict[str, float] = Field(default_factory=dict)
    snapshot: dict[str, ReadingBody]
    rollback_kw: float
    last_setpoint_kw: float  # v2: the policy's own input, for replay
    config_sha: str | None = None  # v2: which runtime.started config the decision used
    models: dict[str, str] = Field(default_factory=dict)  # v2: model / forecast versions


class DispatchBody(_Event):
    """One dispatch already sent, as the gate's ``history`` input."""

    asset: str
    kind: str
    value: float
    at: datetime


class ForecastBody(_Event):
    """The gate's ``forecast`` input: per-step series from ``start``."""

    start: datetime
    step_s: float
    feeder_net_kw: dict[str, list[float]] = Field(default_factory=dict)
    bus_voltage_pu: dict[str, list[float]] = Field(default_factory=dict)


class DispatchGated(_Event):
    kind: Literal["dispatch.gated"] = "dispatch.gated"
    v: Literal[2] = 2
    outcome: str
    value: float | None
    constraints: list[HitBody]
    recheck: bool = False
    # v2: the gate's other inputs, exactly as it took them (replay passes them back)
    history: list[DispatchBody] = Field(default_factory=list)
    forecast: ForecastBody | None = None
    forecast_note: str = ""  # how the forecast was made, or why there was none


class DispatchRejected(_Event):
    kind: Literal["dispatch.rejected"] = "dispatch.rejected"
    v: Literal[1] = 1
    reason: str


class DispatchSimulated(_Event):
    kind: Literal["dispatch.simulated"] = "dispatch.simulated"
    v: Literal[2] = 2
    ok: bool
    summary: str
    violations: list[dict[str, Any]]
    steps: int
    step_s: float
    peak_kw_plan: float
    peak_kw_baseline: float
    energy_shifted_kwh: float
    twin_state: TwinStateBody | None = None  # v2: the validator's input, for replay
    value: float | None = None  # v2: the value simulated


class DispatchGridValidated(_Event):
    """The plan run through a power flow on the feeder's network twin (when configured)."""

    kind: Literal["dispatch.grid_validated"] = "dispatch.grid_validated"
    v: Literal[1] = 1
    ok: bool
    summary: str
    report: dict[str, Any]
    plot: str | None = None  # path of the PNG (plan vs no action), when plots are available


class DispatchBlocked(_Event):
    kind: Literal["dispatch.blocked"] = "dispatch.blocked"
    v: Literal[1] = 1
    reason: str


class DispatchSuperseded(_Event):
    kind: Literal["dispatch.superseded"] = "dispatch.superseded"
    v: Literal[1] = 1
    reason: str
    successor: str | None = None  # the dispatch that replaced it (the page links to it)


class ApprovalReconfirmed(_Event):
    """A later cycle proposed (nearly) the same plan: the pending request stands, with its
    expiry and escalation, instead of being superseded (runtime/approvals/pending.py)."""

    kind: Literal["approval.reconfirmed"] = "approval.reconfirmed"
    v: Literal[1] = 1
    proposed_kw: float  # what the later cycle proposed (before the gate)
    pending_kw: float  # what the pending request proposed
    tolerance_kw: float
    rationale: str = ""


class ApprovalRequested(_Event):
    kind: Literal["approval.requested"] = "approval.requested"
    v: Literal[2] = 2
    requirement: str
    expires_at: datetime
    asset: str
    value: float
    rationale: str
    simulation: str
    grid_report: dict[str, Any] | None = None  # the power-flow report the operator reviews
    plot: str | None = None  # its PNG
    # v2: the plan an approval is bound to, who proposed it, and when it escalates
    commands: list[CommandBody] = Field(default_factory=list)
    plan_hash: str | None = None  # sha256 of the canonical JSON of ``commands``
    proposed_by: str = ""  # "policy:<name>", or the operator behind an operator intent
    rollback_kw: float | None = None
    escalate_at: datetime | None = None


class ApprovalAuto(_Event):
    kind: Literal["approval.auto"] = "approval.auto"
    v: Literal[1] = 1
    requirement: str
    reason: str


class ApprovalGranted(_Event):
    kind: Literal["approval.granted"] = "approval.granted"
    v: Literal[2] = 2
    user: str
    reason: str = ""
    plan_hash: str | None = None  # v2: the plan the operator saw (None: a v1 request had none)


class ApprovalRejected(_Event):
    kind: Literal["approval.rejected"] = "approval.rejected"
    v: Literal[1] = 1
    user: str
    reason: str


class ApprovalExpired(_Event):
    kind: Literal["approval.expired"] = "approval.expired"
    v: Literal[1] = 1
    reason: str


class ApprovalEscalated(_Event):
    """A request unanswered for ``after_s``: who to call (recorded once per request)."""

    kind: Literal["approval.escalated"] = "approval.escalated"
    v: Literal[1] = 1
    after_s: float
    escalate_to: list[str]
    reason: str


class DispatchApproved(_Event):
    """The outbox entry: fsync'd before the first write; all a resend needs."""

    kind: Literal["dispatch.approved"] = "dispatch.approved"
    v: Literal[1] = 1
    command: CommandBody
    value: float
    source: str
    rollback_kw: float
    max_attempts: int = 5


class DispatchSent(_Event):
    kind: Literal["dispatch.sent"] = "dispatch.sent"
    v: Literal[2] = 2
    value: float
    source: str
    rollback_kw: float
    attempt: int  # v2: which attempt (1 = first); v1 logs had one attempt only


class DispatchAcked(_Event):
    kind: Literal["dispatch.acked"] = "dispatch.acked"
    v: Literal[1] = 1
    applied_key: str
    readback_kw: float


class DispatchVerified(_Event):
    kind: Literal["dispatch.verified"] = "dispatch.verified"
    v: Literal[1] = 1
    value: float


class DispatchFailed(_Event):
    kind: Literal["dispatch.failed"] = "dispatch.failed"
    v: Literal[2] = 2
    reason: str
    attempt: int = 1
    retryable: bool = False  # v2


class DispatchRetried(_Event):
    kind: Literal["dispatch.retried"] = "dispatch.retried"
    v: Literal[1] = 1
    attempt: int
    delay_s: float
    reason: str


class DispatchResumed(_Event):
    kind: Literal["dispatch.resumed"] = "dispatch.resumed"
    v: Literal[1] = 1
    from_state: str
    attempt: int


class DispatchDeadLettered(_Event):
    kind: Literal["dispatch.dead_lettered"] = "dispatch.dead_lettered"
    v: Literal[1] = 1
    reason: str
    dlq_id: int | None = None


class DispatchExpired(_Event):
    kind: Literal["dispatch.expired"] = "dispatch.expired"
    v: Literal[1] = 1
    reason: str


class DispatchRevertRequested(_Event):
    """An operator asks the running conductor to revert (no state change by itself)."""

    kind: Literal["dispatch.revert_requested"] = "dispatch.revert_requested"
    v: Literal[1] = 1
    user: str
    reason: str


class DispatchReverted(_Event):
    kind: Literal["dispatch.reverted"] = "dispatch.reverted"
    v: Literal[1] = 1
    asset: str
    value: float
    revert_key: str
    by: str
    reason: str


# --- canary runs: a candidate policy decides on live snapshots, never dispatched ----------


class CanaryStarted(_Event):
    kind: Literal["canary.started"] = "canary.started"
    v: Literal[1] = 1
    candidate: str
    production: str  # the policy in production when the canary started
    user: str
    reason: str = ""
    models: dict[str, str] = Field(default_factory=dict)


class CanaryDecisionBody(_Event):
    asset: str
    proposed_kw: float
    outcome: str  # rejected | blocked | auto | needs_approval
    value_kw: float | None = None  # after the gate (clamped value), None when rejected
    reason: str = ""
    key: str = ""
    tier: str = ""  # the agent tier that proposed it ("" before canaries ran the agents)


class CanaryDecision(_Event):
    """One cycle: what production and the candidate decided on the same live snapshot."""

    kind: Literal["canary.decision"] = "canary.decision"
    v: Literal[1] = 1
    candidate: str
    production: str
    inputs: dict[str, float] = Field(default_factory=dict)  # meter, battery, SoC at the cycle
    production_decisions: list[CanaryDecisionBody] = Field(default_factory=list)
    candidate_decisions: list[CanaryDecisionBody] = Field(default_factory=list)
    differ: bool


class CanaryPromoted(_Event):
    kind: Literal["canary.promoted"] = "canary.promoted"
    v: Literal[1] = 1
    candidate: str  # now production
    previous: str
    user: str
    reason: str = ""
    models: dict[str, str] = Field(default_factory=dict)


class CanaryRolledBack(_Event):
    kind: Literal["canary.rolled_back"] = "canary.rolled_back"
    v: Literal[1] = 1
    candidate: str
    production: str  # unchanged
    user: str
    reason: str = ""


# --- hierarchy (runtime.hierarchy): a conductor and its controller ---------------


class HierarchyControllerLost(_Event):
    kind: Literal["hierarchy.controller_lost"] = "hierarchy.controller_lost"
    v: Literal[1] = 1
    site: str
    reason: str
    threshold_kw: float  # the local config's, now in force


class HierarchyControllerBack(_Event):
    kind: Literal["hierarchy.controller_back"] = "hierarchy.controller_back"
    v: Literal[1] = 1
    site: str
    cap_kw: float
    threshold_kw: float


class HierarchyCapApplied(_Event):
    kind: Literal["hierarchy.cap_applied"] = "hierarchy.cap_applied"
    v: Literal[1] = 1
    site: str
    cap_kw: float
    threshold_kw: float
    seq: int
    valid_until: datetime


class HierarchyCapRejected(_Event):
    kind: Literal["hierarchy.cap_rejected"] = "hierarchy.cap_rejected"
    v: Literal[1] = 1
    site: str
    reason: str
    raw: str  # the payload as received (truncated), for inspection


class HierarchyPolicyAccepted(_Event):
    kind: Literal["hierarchy.policy_accepted"] = "hierarchy.policy_accepted"
    v: Literal[1] = 1
    site: str
    policy: str
    threshold_kw: float | None = None
    models: dict[str, str] = Field(default_factory=dict)


class HierarchyPolicyRejected(_Event):
    kind: Literal["hierarchy.policy_rejected"] = "hierarchy.policy_rejected"
    v: Literal[1] = 1
    site: str
    reason: str
    raw: str


class HierarchyCapsAllocated(_Event):
    """The controller's allocation (one per cadence), with the figures behind it."""

    kind: Literal["hierarchy.caps_allocated"] = "hierarchy.caps_allocated"
    v: Literal[1] = 1
    controller: str
    caps: dict[str, float]
    feeder_cap_kw: float
    load_kw: float
    reserved_kw: float
    reduction_kw: float
    flexible_kw: float
    infeasible: bool
    stale: list[str] = Field(default_factory=list)
    valid_until: datetime


class HierarchyPolicyPushed(_Event):
    kind: Literal["hierarchy.policy_pushed"] = "hierarchy.policy_pushed"
    v: Literal[1] = 1
    controller: str
    site: str
    policy: str
    params: dict[str, float] = Field(default_factory=dict)
    models: dict[str, str] = Field(default_factory=dict)


# --- agents ----------------------------------------------------------------------


class AgentDecided(_Event):
    """One agent step that proposed, flagged, fell back or failed (quiet steps are not logged)."""

    kind: Literal["agent.decided"] = "agent.decided"
    v: Literal[1] = 1
    agent: str
    tier: str
    confidence: float
    rationale: str
    proposals: list[str] = Field(default_factory=list)  # dispatch ids
    fallback: str = ""
    errors: list[str] = Field(default_factory=list)
    escalated: bool = False
    proposer: str = ""


class AgentFlagged(_Event):
    kind: Literal["agent.flagged"] = "agent.flagged"
    v: Literal[1] = 1
    agent: str
    subject: str
    reason: str
    score: float | None = None
    threshold: float | None = None
    hold_assets: list[str] = Field(default_factory=list)
    hold_until: datetime | None = None


class AgentIntentRequested(_Event):
    """An operator's request (from ``gridaios ask`` or the console) for the running conductor."""

    kind: Literal["agent.intent_requested"] = "agent.intent_requested"
    v: Literal[1] = 1
    request_id: str
    user: str
    text: str
    intent: dict[str, Any]  # forecasting.intent.Intent, as understood by the router
    tier: str


class AgentEscalated(_Event):
    kind: Literal["agent.escalated"] = "agent.escalated"
    v: Literal[1] = 1
    agent: str
    rejections: int
    reason: str


class AgentDrEventAccepted(_Event):
    kind: Literal["agent.dr_event_accepted"] = "agent.dr_event_accepted"
    v: Literal[1] = 1
    event_id: str
    event: dict[str, Any]
    via: str


class AgentDrEventRejected(_Event):
    kind: Literal["agent.dr_event_rejected"] = "agent.dr_event_rejected"
    v: Literal[1] = 1
    reason: str
    raw: str  # kept for inspection (truncated to 64 KiB)
    via: str


class AgentObservationMismatch(_Event):
    kind: Literal["agent.observation_mismatch"] = "agent.observation_mismatch"
    v: Literal[1] = 1
    asset: str
    predicted_feeder_kw: float
    measured_feeder_kw: float
    setpoint_kw: float
    measured_asset_kw: float
    tolerance_kw: float
    action: str  # alert | revert


class AgentCurtailmentObserved(_Event):
    """A verified curtailment, ``observe.after_s`` later: did the asset's measured power
    fall to what the curtailment allows? Every outcome is recorded, with the reason."""

    kind: Literal["agent.curtailment_observed"] = "agent.curtailment_observed"
    v: Literal[1] = 1
    asset: str
    curtail_pct: float
    outcome: Literal["followed", "mismatch", "unconfirmed"]
    uncurtailed_kw: float | None  # the asset's power without curtailment, when known
    expected_max_kw: float | None  # uncurtailed_kw x (1 - curtail_pct / 100)
    measured_kw: float | None
    tolerance_kw: float | None
    action: str  # none | alert | revert
    reason: str


# --- authentication (the API's users; see runtime/api/auth.py) ------------------------


class AuthUserAdded(_Event):
    kind: Literal["auth.user_added"] = "auth.user_added"
    v: Literal[1] = 1
    username: str
    role: str
    by: str  # the admin (API) or the OS user (CLI) who added it


class AuthLogin(_Event):
    kind: Literal["auth.login"] = "auth.login"
    v: Literal[1] = 1
    username: str
    role: str
    client: str = ""


class AuthFailed(_Event):
    kind: Literal["auth.failed"] = "auth.failed"
    v: Literal[1] = 1
    username: str
    reason: str
    client: str = ""


class AuthLocked(_Event):
    kind: Literal["auth.locked"] = "auth.locked"
    v: Literal[1] = 1
    username: str
    failures: int
    until: datetime


class AuthUnlocked(_Event):
    kind: Literal["auth.unlocked"] = "auth.unlocked"
    v: Literal[1] = 1
    username: str
    by: str


class AuthTokenCreated(_Event):
    kind: Literal["auth.token_created"] = "auth.token_created"
    v: Literal[1] = 1
    username: str
    by: str
    token_id: str  # the first characters of the token's digest, never the token


class AlarmRaised(_Event):
    """An alarm condition began (runtime/log/alarms.py; ISA-18.2 style)."""

    kind: Literal["alarm.raised"] = "alarm.raised"
    v: Literal[1] = 1
    key: str  # source:subject, one alarm per key
    source: str
    priority: Literal["high", "medium", "low"]
    message: str


class AlarmCleared(_Event):
    kind: Literal["alarm.cleared"] = "alarm.cleared"
    v: Literal[1] = 1
    key: str
    message: str = ""


class AlarmAcknowledged(_Event):
    kind: Literal["alarm.acknowledged"] = "alarm.acknowledged"
    v: Literal[1] = 1
    key: str
    user: str
    reason: str = ""


class AlarmShelved(_Event):
    kind: Literal["alarm.shelved"] = "alarm.shelved"
    v: Literal[1] = 1
    key: str
    user: str
    reason: str
    until: datetime


class OperatorNote(_Event):
    """A free-text entry in the shift log (handover): who wrote what, when."""

    kind: Literal["operator.note"] = "operator.note"
    v: Literal[1] = 1
    author: str
    text: str


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
    | AuthTokenCreated,
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

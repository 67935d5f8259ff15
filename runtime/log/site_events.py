"""The events around dispatches: the runtime's lifecycle and telemetry, canary runs, the
hierarchy, the agents and the API's authentication."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from runtime.log.event_base import EventModel as _Event

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
    auth: str = ""  # how the proposer proved who they are (runtime.identity); "" before it


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


class AuthUserChanged(_Event):
    """An admin disabled, enabled or removed a user, changed a role or revoked tokens."""

    kind: Literal["auth.user_changed"] = "auth.user_changed"
    v: Literal[1] = 1
    username: str
    change: str  # disabled | enabled | removed | role:<new role> | revoked:<n> tokens
    by: str

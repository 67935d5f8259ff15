"""The events of one dispatch, from proposal to verified read-back, and its approvals."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from runtime.log.event_base import CommandBody, HitBody, ReadingBody, TwinStateBody
from runtime.log.event_base import EventModel as _Event

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
    auth: str = ""  # how the approver proved who they are (runtime.identity); "" before it


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

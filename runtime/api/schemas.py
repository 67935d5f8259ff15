"""Request and response bodies of the HTTP API (they make the OpenAPI spec)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from runtime.api.roles import Role
from runtime.api.text import printable_text

Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2000),
    AfterValidator(printable_text),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- auth and users ------------------------------------------------------------------


class LoginRequest(_In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class LoginResponse(_Out):
    token: str
    role: Role
    expires_at: datetime


class Me(_Out):
    username: str
    role: Role


class TokenResponse(_Out):
    token: str = Field(description="shown once; send as 'Authorization: Bearer <token>'")
    username: str
    expires_at: datetime | None


class NewUser(_In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=1024)
    role: Role


class UserOut(_Out):
    username: str
    role: Role
    created: datetime
    locked_until: datetime | None
    failures: int


class Status(_Out):
    status: str


# --- state ---------------------------------------------------------------------------


class Health(_Out):
    status: Literal["ok", "degraded"]
    components: dict[str, str]


class PointState(_Out):
    point: str
    value: float
    unit: str
    ts: datetime
    quality: str
    age_s: float


class StateOut(_Out):
    now: datetime
    source: Literal["live", "historian", "none"]
    points: list[PointState]


class HistorySample(_Out):
    ts: datetime
    value: float


class HistoryOut(_Out):
    point: str
    samples: list[HistorySample]


class ForecastPoint(_Out):
    ds: datetime
    yhat: float
    lo80: float | None = None
    hi80: float | None = None


class ForecastSeries(_Out):
    unique_id: str
    model: str = ""
    points: list[ForecastPoint]


class ForecastsOut(_Out):
    series: list[ForecastSeries]


# --- decisions -----------------------------------------------------------------------


class Hit(_Out):
    constraint: str
    reason: str
    limit: float | None = None
    observed: float | None = None


class Verdict(_Out):
    seq: int
    ts: datetime
    outcome: str
    value_kw: float | None
    recheck: bool
    constraints: list[Hit]


class ProposalOut(_Out):
    dispatch_id: str
    ts: datetime
    asset: str
    value_kw: float
    policy: str
    rationale: str
    verdict: str = Field(description="the gate's outcome: accepted, clamped, rejected or none")
    allowed_kw: float | None
    reasons: list[str]
    state: str


class ApprovalOut(_Out):
    dispatch_id: str
    asset: str
    value_kw: float
    requirement: str
    approvers: list[str]
    requested_at: datetime
    expires_at: datetime
    escalated: bool
    plan_hash: str | None = Field(
        description="sha256 of the plan an approval is bound to, as the request recorded it; "
        "null for an older (v1) request recorded without one"
    )
    rationale: str


class PlanCommand(_Out):
    key: str
    asset: str
    kind: str
    value_kw: float
    start: datetime
    end: datetime
    origin: str


class Simulation(_Out):
    ok: bool
    summary: str
    steps: int
    step_s: float
    peak_kw_plan: float
    peak_kw_baseline: float
    energy_shifted_kwh: float
    violations: list[dict[str, Any]]


class DoNothing(_Out):
    summary: str
    peak_kw: float | None
    setpoint_kw: float


class ApprovalDetail(ApprovalOut):
    status: str = Field(description="pending, or the dispatch's state once decided")
    proposed_by: str = Field(description="who proposed it (a policy, or an operator)")
    approvers_needed: int
    plan: list[PlanCommand]
    verdicts: list[Verdict]
    simulation: Simulation | None
    simulation_summary: str
    grid_report: dict[str, Any] | None
    plot_url: str | None
    explanation: str
    rollback_kw: float
    do_nothing: DoNothing
    escalate_at: datetime | None = None
    successor: str | None = Field(
        default=None, description="the request that superseded this one (its page links there)"
    )
    history: list[dict[str, Any]] = Field(
        default_factory=list,
        description="later cycles that proposed nearly the same plan (approval.reconfirmed)",
    )
    stakes: dict[str, Any] | None = Field(
        default=None, description="what is at stake, in words: runtime/api/stakes.py"
    )


class ApproveRequest(_In):
    reason: Reason = ""
    plan_hash: str | None = Field(
        min_length=1,
        max_length=128,
        description="the plan_hash shown with the request (null only when it showed null)",
    )


class RejectRequest(_In):
    reason: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
        AfterValidator(printable_text),
    ]


class DecisionOut(_Out):
    dispatch_id: str
    status: Literal["pending", "approved", "rejected"]
    approvers: list[str]
    approvers_needed: int


class DispatchOut(_Out):
    dispatch_id: str
    asset: str
    value_kw: float | None
    state: str
    ts: datetime
    updated: datetime
    requirement: str
    approvers: list[str]
    source: str
    rollback_kw: float
    attempts: int


class EventOut(_Out):
    seq: int
    ts: datetime
    kind: str
    dispatch_id: str | None
    payload: dict[str, Any]
    hash: str


class ExplainedEvent(EventOut):
    lines: list[str]


class DispatchDetail(_Out):
    dispatch_id: str
    state: str
    text: str = Field(description="what `gridaios explain` prints")
    narrative: str = Field(default="", description="the same in sentences (explain --text)")
    events: list[ExplainedEvent]


class VerifyOut(_Out):
    ok: bool
    events: int
    first_bad_seq: int | None


class DeadLetterOut(_Out):
    id: int
    kind: str
    source: str
    reason: str
    ts: datetime
    status: str
    retries: int
    payload_preview: str


class ShadowReport(_Out):
    name: str
    created: datetime
    url: str

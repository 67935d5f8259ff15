"""One decision step, pure: policy -> gate -> twin validation -> grid check -> approval rule.

The conductor records each of these steps as events and dispatches what passes;
shadow runs and canary runs call ``decide_step`` on simulated or live snapshots,
so every side runs the same decision code. Nothing here does I/O or reads a clock
(the grid check loads its network once, at construction, in the shell).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from runtime.approvals import book as approvals
from runtime.config import site
from runtime.config.model import PeakShavingConfig, SiteConfig
from runtime.core.errors import GridaiosError
from runtime.decide.gate_inputs import GateInputs
from runtime.decide.gridcheck import GridCheck, GridChecker
from runtime.decide.policy import Proposal, peak_shaving
from safety import (
    Accepted,
    ApprovedCommand,
    Clamped,
    Command,
    CommandKind,
    Envelope,
    StateSnapshot,
    Verdict,
    evaluate,
)
from simulator import TwinFeeder, TwinState, ValidationReport, validate_plan

PRODUCTION = "production"
PRODUCTION_MODELS = {"policy": "peak_shaving rule v1", "forecast": "persistence (current load)"}
FORECAST_MODELS = {
    "persistence": "persistence (current load)",
    "seasonal_naive": "seasonal naive (same time yesterday) v1",
    "onnx": "onnx short-term forecaster (forecasting/models/forecaster.int8.onnx)",
}


class UnknownCandidate(GridaiosError):
    """A candidate name the config does not declare: fix the name (the known ones are listed)."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = list(known)
        super().__init__(
            f"--candidate {name}: unknown candidate; known: {', '.join(self.known)} "
            "(declare more under policy.candidates in the site config)"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivePolicy:
    """What decides on one side: the peak-shaving parameters and the twin's forecast model."""

    name: str
    peak_shaving: PeakShavingConfig
    forecast: str = "persistence"
    model_version: str | None = None
    models: Mapping[str, str] = field(default_factory=lambda: dict(PRODUCTION_MODELS))


def known_policies(config: SiteConfig) -> list[str]:
    return [PRODUCTION, *sorted(config.policy.candidates)]


def resolve_policy(
    config: SiteConfig, name: str, *, base: ActivePolicy | None = None
) -> ActivePolicy:
    """``production`` or a candidate of ``policy.candidates`` laid over production's values."""
    production = base or ActivePolicy(name=PRODUCTION, peak_shaving=config.policy.peak_shaving)
    if name == PRODUCTION:
        return production
    candidate = config.policy.candidates.get(name)
    if candidate is None:
        raise UnknownCandidate(name, known_policies(config))
    overrides = {
        k: v
        for k, v in candidate.model_dump(
            include={"battery", "threshold_kw", "cadence_s", "deadband_kw", "command_duration_s"}
        ).items()
        if v is not None
    }
    forecast = candidate.forecast or production.forecast
    version = f" {candidate.model_version}" if candidate.model_version else ""
    return ActivePolicy(
        name=name,
        peak_shaving=production.peak_shaving.model_copy(update=overrides),
        forecast=forecast,
        model_version=candidate.model_version,
        models={
            "policy": f"peak_shaving rule v1 ({name}{version})",
            "forecast": FORECAST_MODELS[forecast],
        },
    )


class Outcome(StrEnum):
    REJECTED = "rejected"  # the gate refused it
    BLOCKED = "blocked"  # the twin or the power flow predicted a violation
    AUTO = "auto"  # approved automatically: dispatched
    NEEDS_APPROVAL = "needs_approval"  # an operator (or two) must sign off


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionContext:
    """Everything derived once from the site config that the decision step needs."""

    config: SiteConfig
    envelope: Envelope
    twin: TwinFeeder
    grid: GridChecker | None = None

    @classmethod
    def from_config(cls, config: SiteConfig, *, with_grid: bool = True) -> DecisionContext:
        network = config.feeder.network
        grid = GridChecker(config, network, None) if with_grid and network is not None else None
        return cls(
            config=config, envelope=site.envelope(config), twin=site.twin_feeder(config), grid=grid
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposed:
    """A proposal and who made it: the agent, and the tier of its ladder that decided."""

    proposal: Proposal
    agent: str = "peak_shaving"
    tier: str = "peak_rule"  # the bare rule policy (``propose``) when no agent ran


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    proposal: Proposal
    verdict: Verdict
    validation: ValidationReport | None = None
    grid: GridCheck | None = None
    requirement: approvals.Requirement | None = None
    outcome: Outcome
    inputs: GateInputs | None = None  # the gate's history and forecast, when it had them
    agent: str = "peak_shaving"
    tier: str = "peak_rule"  # the agent tier that proposed it (``Proposed.tier``)

    @property
    def approved(self) -> ApprovedCommand | None:
        return self.verdict.approved if isinstance(self.verdict, Accepted | Clamped) else None

    @property
    def value_kw(self) -> float | None:
        approved = self.approved
        return approved.value if approved is not None else None

    def signature(self) -> tuple[object, ...]:
        """What two sides are compared on: the proposal, the verdict and the outcome."""
        return (
            self.proposal.command.asset,
            round(self.proposal.command.value, 6),
            type(self.verdict).__name__,
            None if self.value_kw is None else round(self.value_kw, 6),
            self.outcome.value,
        )


def propose(
    snapshot: StateSnapshot,
    config: SiteConfig,
    policy: PeakShavingConfig,
    setpoints: Mapping[str, float],
    now: datetime,
) -> list[Proposal]:
    battery = config.battery(policy.battery)
    return peak_shaving(
        snapshot,
        policy,
        site_id=config.site.id,
        meter=config.feeder.meter,
        max_discharge_kw=battery.max_discharge_kw,
        last_setpoint_kw=setpoints.get(policy.battery, 0.0),
        now=now,
    )


def gate_one(
    command: Command,
    snapshot: StateSnapshot,
    envelope: Envelope,
    now: datetime,
    inputs: GateInputs | None = None,
) -> Verdict:
    """The gate for one command; ``inputs``: its dispatch history and feeder forecast."""
    if inputs is None:
        (verdict,) = evaluate([command], snapshot, envelope, now)
    else:
        (verdict,) = evaluate(
            [command],
            snapshot,
            envelope,
            now,
            history=inputs.history,
            forecast=inputs.forecast,
        )
    return verdict


def twin_state(config: SiteConfig, twin: TwinFeeder, snapshot: StateSnapshot) -> TwinState:
    meter = snapshot.get(site.point_id(config.feeder.meter, "p_kw"))
    p_kw = {
        b: (r.value if (r := snapshot.get(site.point_id(b, "p_kw"))) else 0.0)
        for b in twin.batteries
    }
    soc = {
        b: (r.value if (r := snapshot.get(site.point_id(b, "soc_pct"))) else 0.0)
        for b in twin.batteries
    }
    uncontrolled = (meter.value if meter else 0.0) + sum(p_kw.values())
    return TwinState(soc_pct=soc, p_kw=p_kw, uncontrolled_net_kw=uncontrolled)


def simulate(
    approved: ApprovedCommand,
    twin_now: TwinState,
    twin: TwinFeeder,
    now: datetime,
    forecast_net_kw: Sequence[float] | None = None,
) -> ValidationReport:
    return validate_plan(
        [with_value(approved.command, approved.value)],
        twin_now,
        twin,
        now,
        approved.end - approved.start,
        forecast_net_kw=forecast_net_kw,
    )


def decide_step(
    snapshot: StateSnapshot,
    forecast_net_kw: Sequence[float] | None,
    ctx: DecisionContext,
    policy: ActivePolicy,
    now: datetime,
    *,
    setpoints: Mapping[str, float],
    gate_inputs: Callable[[Command], GateInputs] | None = None,
    proposed: Sequence[Proposed] | None = None,
) -> list[Decision]:
    """Propose, gate, validate and classify: what the conductor does before it dispatches.

    ``gate_inputs``: each command's dispatch history and feeder forecast, as the conductor
    gives them to the gate (None: the gate holds the measured state flat, no history).
    ``proposed``: what the side's agents proposed (``runtime.shadow.agentside``), checked
    as the conductor checks its agents' proposals; None: the bare rule policy proposes.
    """
    if proposed is None:
        proposed = [
            Proposed(proposal=p)
            for p in propose(snapshot, ctx.config, policy.peak_shaving, setpoints, now)
        ]
    out: list[Decision] = []
    for made in proposed:
        proposal = made.proposal
        command = proposal.command
        inputs = gate_inputs(command) if gate_inputs is not None else None
        verdict = gate_one(command, snapshot, ctx.envelope, now, inputs)
        approved = verdict.approved if isinstance(verdict, Accepted | Clamped) else None
        if approved is None:
            out.append(
                Decision(
                    proposal=proposal,
                    verdict=verdict,
                    outcome=Outcome.REJECTED,
                    inputs=inputs,
                    agent=made.agent,
                    tier=made.tier,
                )
            )
            continue
        report = simulate(
            approved, twin_state(ctx.config, ctx.twin, snapshot), ctx.twin, now, forecast_net_kw
        )
        grid = (
            ctx.grid.check(with_value(approved.command, approved.value), snapshot, now)
            if ctx.grid is not None
            else None
        )
        if not report.ok or (grid is not None and not grid.ok):
            out.append(
                Decision(
                    proposal=proposal,
                    verdict=verdict,
                    validation=report,
                    grid=grid,
                    outcome=Outcome.BLOCKED,
                    inputs=inputs,
                    agent=made.agent,
                    tier=made.tier,
                )
            )
            continue
        need = approvals.requirement(approved.value, ctx.config.approvals)
        if proposal.escalated and need is approvals.Requirement.AUTO:
            need = approvals.Requirement.ONE_OPERATOR  # as the conductor: a human decides
        out.append(
            Decision(
                proposal=proposal,
                verdict=verdict,
                validation=report,
                grid=grid,
                requirement=need,
                outcome=Outcome.AUTO
                if need is approvals.Requirement.AUTO
                else Outcome.NEEDS_APPROVAL,
                inputs=inputs,
                agent=made.agent,
                tier=made.tier,
            )
        )
    return out


def approval_kw(
    config: SiteConfig, command: Command, value: float, snapshot: StateSnapshot
) -> float | None:
    """The kW the approval thresholds compare for ``command`` at its gated ``value``: a
    setpoint's kW, or the kW a curtailment sheds (``site.curtail_kw``); None when unknown."""
    if command.kind is CommandKind.CURTAIL_PCT:
        return site.curtail_kw(config, command.asset, value, snapshot)
    return value


def approval_requirement(
    config: SiteConfig,
    command: Command,
    value: float,
    snapshot: StateSnapshot,
    *,
    escalated: bool = False,
) -> tuple[approvals.Requirement, float | None]:
    """The approval rule as the conductor applies it, with the kW it compared: a size that
    cannot be known goes to an operator, and so does an escalated agent's proposal."""
    kw = approval_kw(config, command, value, snapshot)
    need = (
        approvals.requirement(kw, config.approvals)
        if kw is not None
        else approvals.Requirement.ONE_OPERATOR  # its size is unknown: a human decides
    )
    if escalated and need is approvals.Requirement.AUTO:
        need = approvals.Requirement.ONE_OPERATOR  # repeated rejections: a human decides
    return need, kw


def with_value(command: Command, value: float) -> Command:
    if value == command.value:
        return command
    return Command(
        key=command.key,
        asset=command.asset,
        kind=command.kind,
        value=value,
        start=command.start,
        end=command.end,
        origin=command.origin,
    )

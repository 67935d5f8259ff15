"""The decision step, pure and in one place: gate -> twin -> power flow -> approval rule.

``decide_step`` takes one proposal with everything it depends on (the state snapshot,
the gate's inputs, the decision context: envelope, feeder twin, network and approval
rules; and ``now``) and returns the ``Decision`` the conductor records and acts on.
The conductor, replay, shadow runs and canaries all call it; nothing else assembles
the step, so they cannot disagree (a parity test runs recorded days through all four).
``decide_cycle`` is the step for every proposal of a cycle, for the sides that let the
bare rule policy propose. Nothing here does I/O or reads a clock (the network is
loaded once, when the context is built, in the shell).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from runtime.config import site
from runtime.config.model import PeakShavingConfig, SiteConfig
from runtime.decide.approval_rule import Requirement, approval_requirement
from runtime.decide.candidates import ActivePolicy
from runtime.decide.gate_inputs import GateInputs
from runtime.decide.gridcheck import GridCheck, GridChecker
from runtime.decide.policy import Proposal, peak_shaving
from runtime.log import events as ev
from runtime.log import records
from safety import (
    Accepted,
    ApprovedCommand,
    Clamped,
    Command,
    CommandKind,
    Envelope,
    Rejected,
    StateSnapshot,
    Verdict,
    evaluate,
)
from simulator.validate import TwinFeeder, TwinState, ValidationReport, validate_plan


class Outcome(StrEnum):
    REJECTED = "rejected"  # the gate refused it
    BLOCKED = "blocked"  # the twin or the power flow predicted a violation
    AUTO = "auto"  # approved automatically: dispatched
    NEEDS_APPROVAL = "needs_approval"  # an operator (or two) must sign off


@dataclass(frozen=True, slots=True)
class NotSimulated(ValidationReport):
    """A command the feeder twin cannot model: says so instead of a validation."""

    reason: str = ""

    def summary(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionContext:
    """Everything derived once from the site config that the decision step needs: the
    config (approval rules, site), the gate's envelope, the feeder twin and the network."""

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
    outcome: Outcome
    inputs: GateInputs | None = None  # the gate's history and forecast, when it had them
    twin: TwinState | None = None  # the twin state the plan was validated from
    validation: ValidationReport | None = None
    grid: GridCheck | None = None
    requirement: Requirement | None = None  # the approval rule, for every gated command
    approval_kw: float | None = None  # the kW the rule compared (a curtailment's shed kW)
    agent: str = "peak_shaving"
    tier: str = "peak_rule"  # the agent tier that proposed it (``Proposed.tier``)

    @property
    def approved(self) -> ApprovedCommand | None:
        return self.verdict.approved if isinstance(self.verdict, Accepted | Clamped) else None

    @property
    def value_kw(self) -> float | None:
        approved = self.approved
        return approved.value if approved is not None else None

    @property
    def blocked_reason(self) -> str:
        """Why the twin or the power flow blocked it ('' when neither did)."""
        if self.validation is not None and not self.validation.ok:
            return self.validation.summary()
        if self.grid is not None and not self.grid.ok:
            return self.grid.summary
        return ""

    def signature(self) -> tuple[object, ...]:
        """What two sides are compared on: the proposal, the verdict, the outcome and the
        approval rule (with the kW it compared)."""
        return (
            self.proposal.command.asset,
            round(self.proposal.command.value, 6),
            type(self.verdict).__name__,
            None if self.value_kw is None else round(self.value_kw, 6),
            self.outcome.value,
            None if self.requirement is None else self.requirement.value,
            None if self.approval_kw is None else round(self.approval_kw, 6),
        )

    def recorded(self, *, recheck: bool = False) -> list[BaseModel]:
        """The events of the step as the conductor records them, in order: the gate's
        verdict (with its inputs), its rejection, the twin's validation, the power flow."""
        out: list[BaseModel] = [
            self.inputs.gated(self.verdict, recheck=recheck)
            if self.inputs is not None
            else records.gated(self.verdict, recheck=recheck)
        ]
        if isinstance(self.verdict, Rejected):
            reasons = "; ".join(h.reason for h in self.verdict.hits)
            out.append(ev.DispatchRejected(reason=reasons))
            return out
        approved = self.approved
        if self.validation is not None and self.twin is not None and approved is not None:
            out.append(records.simulated(self.validation, self.twin, approved.value))
        if self.grid is not None:
            out.append(
                ev.DispatchGridValidated(
                    ok=self.grid.ok, summary=self.grid.summary, report=self.grid.report
                )
            )
        return out


def decide_step(
    proposed: Proposed | Proposal,
    snapshot: StateSnapshot,
    inputs: GateInputs | None,
    ctx: DecisionContext,
    now: datetime,
    *,
    forecast_net_kw: Sequence[float] | None = None,
) -> Decision:
    """Gate, validate on the twin and the network, classify: one proposal's decision.

    ``inputs``: the command's dispatch history and feeder forecast for the gate (None: the
    gate holds the measured state flat, no history). ``forecast_net_kw``: the twin's load
    forecast over the plan (None: persistence of the current uncontrolled load).
    """
    made = proposed if isinstance(proposed, Proposed) else Proposed(proposal=proposed)
    proposal = made.proposal
    command = proposal.command
    verdict = gate_one(command, snapshot, ctx.envelope, now, inputs)
    approved = verdict.approved if isinstance(verdict, Accepted | Clamped) else None
    if approved is None:
        return Decision(
            proposal=proposal,
            verdict=verdict,
            outcome=Outcome.REJECTED,
            inputs=inputs,
            agent=made.agent,
            tier=made.tier,
        )
    planned = with_value(approved.command, approved.value)
    twin = twin_state(ctx.config, ctx.twin, snapshot)
    if command.kind is CommandKind.ACTIVE_POWER_KW:
        report = simulate(approved, twin, ctx.twin, now, forecast_net_kw)
    else:
        report = not_simulated(approved, twin, checked_by_grid=ctx.grid is not None)
    grid = ctx.grid.check(planned, snapshot, now) if ctx.grid is not None else None
    need, kw = approval_requirement(
        ctx.config, approved.command, approved.value, snapshot, escalated=proposal.escalated
    )
    if not report.ok or (grid is not None and not grid.ok):
        outcome = Outcome.BLOCKED
    else:
        outcome = Outcome.AUTO if need is Requirement.AUTO else Outcome.NEEDS_APPROVAL
    return Decision(
        proposal=proposal,
        verdict=verdict,
        outcome=outcome,
        inputs=inputs,
        twin=twin,
        validation=report,
        grid=grid,
        requirement=need,
        approval_kw=kw,
        agent=made.agent,
        tier=made.tier,
    )


def decide_cycle(
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
    """``decide_step`` for each proposal of a cycle: the agents' (``proposed``), or the bare
    rule policy's when None. ``gate_inputs``: each command's history and forecast."""
    if proposed is None:
        proposed = [
            Proposed(proposal=p)
            for p in propose(snapshot, ctx.config, policy.peak_shaving, setpoints, now)
        ]
    return [
        decide_step(
            made,
            snapshot,
            gate_inputs(made.proposal.command) if gate_inputs is not None else None,
            ctx,
            now,
            forecast_net_kw=forecast_net_kw,
        )
        for made in proposed
    ]


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


def not_simulated(
    approved: ApprovedCommand, twin: TwinState, *, checked_by_grid: bool
) -> NotSimulated:
    """The twin models battery active power only: recorded as not simulated, not blocking
    (the gate's limits and the power flow, when configured, still apply)."""
    kind = approved.command.kind.value
    return NotSimulated(
        violations=(),
        steps=0,
        step_s=0.0,
        peak_kw_plan=twin.uncontrolled_net_kw,
        peak_kw_baseline=twin.uncontrolled_net_kw,
        energy_shifted_kwh=0.0,
        reason=f"not simulated: the feeder twin does not model {kind} "
        f"({approved.asset} {approved.value:g}); the gate's envelope "
        + ("and the power flow checked it" if checked_by_grid else "alone checked it"),
    )


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

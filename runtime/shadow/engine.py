"""Shadow runs: production and a candidate, side by side, on the same inputs, in simulated time.

Each side has its own SimPy world (batteries, SoC, meter) on the shared exogenous
load. It proposes through the conductor's agents (``runtime.shadow.agentside``: DR
events, the peak-shaving forecast tier, the rule when unsure) on a perception of its
own world, and checks the proposals with the conductor's decision step
(``runtime.decide.step.decide_step``: gate, twin validation, power-flow check, approval
rule) at its agents' cadence. Its gate takes what production's conductor gives
it: the side's own dispatch history and a seasonal-naive feeder forecast from
the side's own telemetry (``runtime.shadow.sidegate``). What the step lets through is applied to
that side's batteries, so every side's dispatches change its own feeder (closed
loop). Decisions that need an operator are counted as human interventions and then
treated as approved: the run shows what the policy would do with an operator who
agrees.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from runtime.config.model import SiteConfig
from runtime.core.errors import GridaiosError
from runtime.decide.step import (
    ActivePolicy,
    Decision,
    DecisionContext,
    Outcome,
    decide_step,
    propose,
    twin_state,
)
from runtime.shadow.agentside import SideAgents, side_config
from runtime.shadow.forecast import OnnxForecast, SeasonalNaive
from runtime.shadow.inputs import ShadowInputs
from runtime.shadow.kpis import Difference, Kpis, by_tier, compute, differences
from runtime.shadow.sidegate import SideGate
from runtime.shadow.world import Series, SideWorld

log = logging.getLogger(__name__)

FORECAST_STEP = timedelta(minutes=5)
DISPATCHED = (Outcome.AUTO, Outcome.NEEDS_APPROVAL)


class Mode(StrEnum):
    FULL = "full"  # forecast, gate, twin validation, power flow, approval rule
    POLICY_ONLY = "policy_only"  # the rule alone, applied unchecked (benchmark baseline only)


class ForecastModelError(GridaiosError):
    """The candidate pins a model version that is not the one installed: fix one of them."""


Forecaster = SeasonalNaive | OnnxForecast


def make_forecaster(policy: ActivePolicy, inputs: ShadowInputs) -> tuple[Forecaster | None, str]:
    """The side's forecaster and what it really is; an unavailable model means persistence."""
    if policy.forecast == "seasonal_naive":
        return SeasonalNaive(inputs.start, inputs.step_s, inputs.yesterday_kw), policy.models[
            "forecast"
        ]
    if policy.forecast != "onnx":
        return None, policy.models["forecast"]
    try:  # imported here: the forecasting package loads statsforecast (seconds)
        from forecasting.onnx_models import ShortTermForecaster

        model = ShortTermForecaster()
    except Exception as err:  # the `ml` extra is optional, the model may be missing: fall back
        log.warning("%s: onnx forecaster unavailable (%s): persistence instead", policy.name, err)
        return None, f"persistence (onnx forecaster unavailable: {err})"
    onnx = OnnxForecast(inputs.start, inputs.step_s, inputs.yesterday_kw, model)
    if policy.model_version is not None and policy.model_version != onnx.version:
        raise ForecastModelError(
            f"policy.candidates.{policy.name}.model_version = {policy.model_version}: the "
            f"installed forecaster is version {onnx.version}; pin that version or install "
            f"the model version {policy.model_version}"
        )
    return onnx, f"onnx short-term forecaster {onnx.version} (int8)"


@dataclass(frozen=True, slots=True, kw_only=True)
class SideResult:
    policy: ActivePolicy
    kpis: Kpis
    series: Series
    decisions: dict[datetime, list[Decision]]
    cycles: int
    forecast_fallbacks: int = 0
    forecast_model: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ShadowResult:
    inputs: ShadowInputs
    production: SideResult
    candidate: SideResult
    differences: list[Difference] = field(default_factory=list)

    @property
    def decisions_differ(self) -> int:
        return len(self.differences)

    def as_json(self) -> dict[str, object]:
        return {
            "production": {
                "policy": self.production.policy.name,
                "forecast": self.production.forecast_model,
                **self.production.kpis.as_json(),
                "proposals_by_tier": by_tier(self.production.decisions),
            },
            "candidate": {
                "policy": self.candidate.policy.name,
                "forecast": self.candidate.forecast_model,
                **self.candidate.kpis.as_json(),
                "proposals_by_tier": by_tier(self.candidate.decisions),
            },
            "decisions_differ": self.decisions_differ,
        }


def run_side(
    config: SiteConfig,
    ctx: DecisionContext,
    inputs: ShadowInputs,
    policy: ActivePolicy,
    *,
    mode: Mode = Mode.FULL,
    agents: SideAgents | None = None,
) -> SideResult:
    """``agents``: the side's agents (default: the conductor's, under the side's policy)."""
    world = SideWorld(config, inputs)
    gate = SideGate(config, ctx.envelope, inputs, world)  # the conductor's gate inputs
    cadence = timedelta(seconds=policy.peak_shaving.cadence_s)
    if mode is Mode.FULL:
        if agents is None:
            agents = SideAgents(
                side_config(config, policy.peak_shaving), dr_events=inputs.dr_events
            )
        lead = inputs.lead_kw if inputs.lead_kw is not None else inputs.yesterday_kw
        agents.seed(inputs.start, inputs.step_s, lead)
        cadence = agents.tick  # the conductor cycles at its fastest agent's cadence
    forecaster, forecast_model = make_forecaster(policy, inputs)
    horizon_steps = max(
        1, int(policy.peak_shaving.command_duration_s // FORECAST_STEP.total_seconds())
    )
    setpoints = {b: 0.0 for b in world.batteries}
    decisions: dict[datetime, list[Decision]] = {}
    dispatches = cycles = 0
    now = inputs.start
    while now <= inputs.end:
        world.advance(now)
        snapshot = world.snapshot()
        cycles += 1
        if mode is Mode.POLICY_ONLY:
            for proposal in propose(snapshot, config, policy.peak_shaving, setpoints, now):
                command = proposal.command
                if world.apply(command.asset, command.key, command.value):
                    setpoints[command.asset] = command.value
                    dispatches += 1
            now += cadence
            continue
        assert agents is not None
        proposed = agents.propose(snapshot, setpoints, now)
        forecast = None
        if forecaster is not None:
            current = twin_state(config, ctx.twin, snapshot).uncontrolled_net_kw
            forecaster.observe(now, current)
            forecast = forecaster.forecast(now, current, horizon_steps, FORECAST_STEP)
        step = decide_step(
            snapshot,
            forecast,
            ctx,
            policy,
            now,
            setpoints=setpoints,
            gate_inputs=partial(gate.inputs_for, snapshot=snapshot, now=now),
            proposed=proposed,
        )
        if step:
            decisions[now] = step
        for d in step:
            agents.outcome(d.agent, accepted=d.outcome in DISPATCHED)
            approved = d.approved if d.outcome in DISPATCHED else None
            if approved is None:
                continue
            gate.record_sent(approved, now)
            if world.apply(approved.asset, approved.key, approved.value):
                setpoints[approved.asset] = approved.value
                dispatches += 1
        now += cadence
    world.advance(inputs.end + timedelta(seconds=inputs.step_s))
    series = world.series
    kpis = compute(
        config,
        start=inputs.start,
        step_s=inputs.step_s,
        meter_kw=series.meter_kw[: inputs.n],
        battery_kw={b: s[: inputs.n] for b, s in series.battery_kw.items()},
        soc_pct={b: s[: inputs.n] for b, s in series.soc_pct.items()},
        decisions=decisions,
        dispatches=dispatches,
        lost_commands=world.lost_commands,
    )
    return SideResult(
        policy=policy,
        kpis=kpis,
        series=series,
        decisions=decisions,
        cycles=cycles,
        forecast_fallbacks=forecaster.fallbacks if forecaster is not None else 0,
        forecast_model=forecast_model,
    )


def run_shadow(
    config: SiteConfig,
    inputs: ShadowInputs,
    production: ActivePolicy,
    candidate: ActivePolicy,
    *,
    ctx: DecisionContext | None = None,
) -> ShadowResult:
    """Both sides on the same inputs (they do not interact, so they run one after the other)."""
    ctx = ctx or DecisionContext.from_config(config)
    ours = run_side(config, ctx, inputs, production)
    theirs = run_side(config, ctx, inputs, candidate)
    return ShadowResult(
        inputs=inputs,
        production=ours,
        candidate=theirs,
        differences=differences(ours.decisions, theirs.decisions),
    )

"""The runner's ladder: tiers, confidence fallback, outage fallback, escalation, metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from runtime.agents import AgentRunner, Decision, Perception
from runtime.config.model import SiteConfig
from runtime.decide.policy import Proposal
from safety import Command, CommandKind, Origin

from .support import T0, config, perception


def proposal(value: float, now: datetime = T0) -> Proposal:
    command = Command(
        key=f"t-bat1-{now:%H%M%S}",
        asset="bat1",
        kind=CommandKind.ACTIVE_POWER_KW,
        value=value,
        start=now,
        end=now + timedelta(minutes=15),
        origin=Origin.AGENT,
    )
    return Proposal(command=command, policy="test", rationale=f"{value:g} kW")


@dataclass
class Fixed:
    """A tier that answers with a given confidence and value."""

    name: str
    confidence: float
    value: float
    calls: int = 0

    def decide(self, perception: Perception, config: SiteConfig, now: datetime) -> Decision:
        self.calls += 1
        return Decision(
            proposals=(proposal(self.value, now),),
            confidence=self.confidence,
            rationale=self.name,
        )


class Outage:
    name = "model"

    def decide(self, perception: Perception, config: SiteConfig, now: datetime) -> Decision:
        raise FileNotFoundError("forecasting/models/gone.onnx")


def runner(*tiers: object, fallback: object = None, escalate_after: int = 3) -> AgentRunner:
    return AgentRunner(
        "t",
        tiers,  # type: ignore[arg-type]
        cadence=timedelta(minutes=5),
        min_confidence=0.6,
        fallback=fallback,  # type: ignore[arg-type]
        escalate_after=escalate_after,
    )


CFG = config()
P = perception({})


@pytest.mark.parametrize(
    ("confidence", "tier", "value", "fallback"),
    [
        (0.9, "model", 120.0, ""),  # confident: the model's proposal stands
        (0.6, "model", 120.0, ""),  # at the threshold: still the model
        (0.3, "rule", 40.0, "model confidence 0.30 < 0.60: conservative fallback"),
    ],
)
def test_low_confidence_hands_over_to_the_conservative_rule(
    confidence: float, tier: str, value: float, fallback: str
) -> None:
    r = runner(Fixed("model", confidence, 120.0), fallback=Fixed("rule", 1.0, 40.0))
    step = r.step(P, CFG, T0)
    assert (step.tier, step.decision.proposals[0].command.value, step.fallback) == (
        tier,
        value,
        fallback,
    )
    assert r.stats.fallbacks == (1 if fallback else 0)


def test_a_model_outage_goes_to_the_next_tier_and_is_counted() -> None:
    before = REGISTRY.get_sample_value(
        "gridaios_agent_errors_total", {"agent": "t", "tier": "model"}
    )
    r = runner(Outage(), Fixed("stats", 0.9, 80.0), fallback=Fixed("rule", 1.0, 40.0))
    step = r.step(P, CFG, T0)
    assert step.tier == "stats"
    assert step.decision.proposals[0].command.value == 80.0
    assert step.errors == ("model: FileNotFoundError: forecasting/models/gone.onnx",)
    assert step.fallback == "tier model failed; used stats"
    assert r.stats.errors == 1
    after = REGISTRY.get_sample_value(
        "gridaios_agent_errors_total", {"agent": "t", "tier": "model"}
    )
    assert after == (before or 0.0) + 1


def test_every_tier_down_means_hold_not_crash() -> None:
    r = runner(Outage(), fallback=Outage())
    step = r.step(P, CFG, T0)
    assert step.decision.proposals == ()
    assert step.tier == "hold"
    assert "no fallback answered: hold setpoints" in step.decision.rationale
    assert len(step.errors) == 2


def test_repeated_rejections_escalate_then_an_acceptance_clears_it() -> None:
    r = runner(Fixed("rule", 1.0, 50.0), escalate_after=3)
    assert [r.outcome(accepted=False) for _ in range(3)] == [False, False, True]
    assert r.escalated and r.stats.escalations == 1
    step = r.step(P, CFG, T0)
    assert step.escalated and step.decision.proposals[0].escalated
    assert r.outcome(accepted=False) is False  # already escalated: one event, not one per reject
    r.outcome(accepted=True)
    assert not r.escalated and r.consecutive_rejections == 0
    assert not r.step(P, CFG, T0 + timedelta(minutes=5)).decision.proposals[0].escalated
    stats = r.stats.as_json()
    assert stats["accepted"] == 1 and stats["rejected"] == 4
    assert stats["acceptance_rate"] == 0.2
    assert stats["proposals"] == 2 and stats["steps"] == 2


def test_cadence() -> None:
    r = runner(Fixed("rule", 1.0, 50.0))
    assert r.due(T0)
    r.step(P, CFG, T0)
    assert not r.due(T0 + timedelta(minutes=4, seconds=59))
    assert r.due(T0 + timedelta(minutes=5))

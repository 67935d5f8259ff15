"""The agent contract and the loop shell that runs one agent's tiers.

An agent is a pure ``decide(perception, config, now) -> Decision``: it proposes
commands with a confidence and a rationale, and never sends anything (the
conductor's gate -> simulator -> approvals -> outbox path decides). The
``AgentRunner`` is the imperative part around it: its own cadence, metrics,
the fallback ladder and escalation to a human:

- a tier that raises (model outage, missing model file, bad input) -> the next tier;
- a decision below the confidence threshold -> the conservative fallback agent;
- ``escalate_after`` consecutive rejections by the gate or the simulator -> an
  ``agent.escalated`` event, and every later proposal needs an operator's sign-off
  (whatever its size) until one passes the checks again.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from prometheus_client import Counter, Histogram

from runtime.decide.policy import Proposal
from safety import StateSnapshot

if TYPE_CHECKING:
    from runtime.agents.dr import DrEvent
    from runtime.agents.intent import OperatorRequest
    from runtime.config.model import SiteConfig

log = logging.getLogger(__name__)

STEP_SECONDS = Histogram(
    "gridaios_agent_step_seconds", "Wall time of one agent decision step", ["agent"]
)
ERRORS = Counter("gridaios_agent_errors_total", "Agent tiers that raised", ["agent", "tier"])
PROPOSALS = Counter("gridaios_agent_proposals_total", "Commands proposed", ["agent"])
ACCEPTED = Counter(
    "gridaios_agent_accepted_total", "Proposals that passed the gate and simulator", ["agent"]
)
REJECTED = Counter(
    "gridaios_agent_rejected_total", "Proposals rejected by the gate or simulator", ["agent"]
)
FALLBACKS = Counter("gridaios_agent_fallbacks_total", "Fallbacks taken", ["agent", "reason"])
ESCALATIONS = Counter("gridaios_agent_escalations_total", "Escalations to a human", ["agent"])

Series = tuple[tuple[datetime, float], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Perception:
    """What every agent sees at one instant; built by the shell, read-only to agents."""

    snapshot: StateSnapshot
    setpoints: Mapping[str, float] = field(default_factory=dict)
    history: Mapping[str, Series] = field(default_factory=dict)  # point -> oldest first
    voltages_pu: Mapping[str, float] = field(default_factory=dict)  # bus id -> p.u.
    dr_events: tuple[DrEvent, ...] = ()
    requests: tuple[OperatorRequest, ...] = ()
    held: frozenset[str] = frozenset()  # assets an anomaly hold freezes


@dataclass(frozen=True, slots=True, kw_only=True)
class Flag:
    """Something an agent noticed that an operator should see (an ``agent.flagged`` event)."""

    subject: str
    reason: str
    score: float | None = None
    threshold: float | None = None
    hold_assets: tuple[str, ...] = ()
    hold_until: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    proposals: tuple[Proposal, ...] = ()
    confidence: float = 1.0  # 0..1: how far the agent trusts its own inputs
    rationale: str = ""
    flags: tuple[Flag, ...] = ()


class Agent(Protocol):
    name: str

    def decide(self, perception: Perception, config: SiteConfig, now: datetime) -> Decision: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One run of an agent: the decision taken, by which tier, and why."""

    agent: str
    tier: str
    decision: Decision
    fallback: str = ""  # why the first tier's decision was not used ("" = it was)
    errors: tuple[str, ...] = ()
    failures: tuple[tuple[str, str], ...] = ()  # (tier, what it raised), as in ``errors``
    escalated: bool = False


@dataclass(slots=True)
class AgentStats:
    """Plain counters per agent, for the demo JSON and status output."""

    steps: int = 0
    errors: int = 0
    proposals: int = 0
    accepted: int = 0
    rejected: int = 0
    fallbacks: int = 0
    escalations: int = 0
    flags: int = 0
    latency_s: deque[float] = field(default_factory=lambda: deque(maxlen=256))

    def as_json(self) -> dict[str, float | int]:
        decided = self.accepted + self.rejected
        lat = sorted(self.latency_s)
        return {
            "steps": self.steps,
            "errors": self.errors,
            "proposals": self.proposals,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "acceptance_rate": round(self.accepted / decided, 3) if decided else 0.0,
            "fallbacks": self.fallbacks,
            "escalations": self.escalations,
            "flags": self.flags,
            "step_ms_p50": round(lat[len(lat) // 2] * 1000, 3) if lat else 0.0,
        }


class AgentRunner:
    """One agent's loop shell: tiers tried in order, a conservative fallback, escalation."""

    def __init__(
        self,
        name: str,
        tiers: Sequence[Agent],
        *,
        cadence: timedelta,
        min_confidence: float,
        fallback: Agent | None = None,
        escalate_after: int = 3,
    ) -> None:
        if not tiers:
            raise ValueError(f"agent {name}: needs at least one tier")
        self.name = name
        self.tiers = tuple(tiers)
        self.fallback = fallback
        self.cadence = cadence
        self.min_confidence = min_confidence
        self.escalate_after = escalate_after
        self.stats = AgentStats()
        self.last_run: datetime | None = None
        self.consecutive_rejections = 0
        self.escalated = False
        self._failing: set[str] = set()

    def due(self, now: datetime) -> bool:
        return self.last_run is None or now >= self.last_run + self.cadence

    def decide(self, perception: Perception, config: SiteConfig, now: datetime) -> Step:
        """The ladder alone: tiers in order, the confidence threshold, the fallback.

        No cadence, metrics, logging or escalation: ``step`` adds those around it, and a
        shadow side calls this to propose exactly what this runner would. Never raises.
        """
        failures: list[tuple[str, str]] = []
        fallback = ""
        decision: Decision | None = None
        tier_name = ""
        for i, tier in enumerate(self.tiers):
            try:
                decision = tier.decide(perception, config, now)
            except Exception as err:  # a model outage must not stop the loop: next tier
                failures.append((tier.name, f"{type(err).__name__}: {err}"))
                continue
            tier_name = tier.name
            if i > 0:
                fallback = f"tier {self.tiers[0].name} failed; used {tier.name}"
            break
        if decision is not None and decision.confidence < self.min_confidence:
            low = (
                f"{tier_name} confidence {decision.confidence:.2f} < "
                f"{self.min_confidence:.2f}: conservative fallback"
            )
            decision, tier_name, fallback = self._fallback(perception, config, now, low, failures)
        elif decision is None:
            why = "every tier failed"
            decision, tier_name, fallback = self._fallback(perception, config, now, why, failures)
        return Step(
            agent=self.name,
            tier=tier_name,
            decision=decision,
            fallback=fallback,
            errors=tuple(f"{name}: {message}" for name, message in failures),
            failures=tuple(failures),
        )

    def step(self, perception: Perception, config: SiteConfig, now: datetime) -> Step:
        """Decide once, with the bookkeeping. Never raises: a failing ladder ends in "hold"."""
        self.last_run = now
        self.stats.steps += 1
        started = time.perf_counter()
        step = self.decide(perception, config, now)
        for name, message in step.failures:
            ERRORS.labels(self.name, name).inc()
            if name not in self._failing:
                log.warning("agent %s: tier %s failed: %s", self.name, name, message)
                self._failing.add(name)  # log the change, not every repeat
        if step.tier in self._failing:
            log.info("agent %s: tier %s answers again", self.name, step.tier)
            self._failing.discard(step.tier)
        decision = step.decision
        if step.fallback:
            self.stats.fallbacks += 1
            FALLBACKS.labels(
                self.name, "low_confidence" if "confidence" in step.fallback else "error"
            ).inc()
        self.stats.errors += len(step.errors)
        elapsed = time.perf_counter() - started
        self.stats.latency_s.append(elapsed)
        STEP_SECONDS.labels(self.name).observe(elapsed)
        if self.escalated:
            decision = escalate(decision)
        self.stats.proposals += len(decision.proposals)
        self.stats.flags += len(decision.flags)
        PROPOSALS.labels(self.name).inc(len(decision.proposals))
        return replace(step, decision=decision, escalated=self.escalated)

    def _fallback(
        self,
        perception: Perception,
        config: SiteConfig,
        now: datetime,
        why: str,
        failures: list[tuple[str, str]],
    ) -> tuple[Decision, str, str]:
        if self.fallback is not None:
            try:
                return self.fallback.decide(perception, config, now), self.fallback.name, why
            except Exception as err:
                failures.append((self.fallback.name, f"{type(err).__name__}: {err}"))
        hold = Decision(confidence=0.0, rationale=f"{why}; no fallback answered: hold setpoints")
        return hold, "hold", why

    def outcome(self, *, accepted: bool) -> bool:
        """Record what the checks made of one proposal; True when this escalates now."""
        if accepted:
            self.stats.accepted += 1
            ACCEPTED.labels(self.name).inc()
        else:
            self.stats.rejected += 1
            REJECTED.labels(self.name).inc()
        before = self.escalated
        self.consecutive_rejections, self.escalated = escalation(
            self.consecutive_rejections,
            self.escalated,
            accepted=accepted,
            escalate_after=self.escalate_after,
        )
        if self.escalated and not before:
            self.stats.escalations += 1
            ESCALATIONS.labels(self.name).inc()
            return True
        return False


def escalation(
    consecutive_rejections: int, escalated: bool, *, accepted: bool, escalate_after: int
) -> tuple[int, bool]:
    """The escalation rule, pure: a passing proposal clears it; ``escalate_after`` refusals
    in a row set it. Returns the new (consecutive rejections, escalated)."""
    if accepted:
        return 0, False
    consecutive_rejections += 1
    return consecutive_rejections, escalated or consecutive_rejections >= escalate_after


def escalate(decision: Decision) -> Decision:
    """Every proposal of an escalated agent needs an operator, whatever its size."""
    if not decision.proposals:
        return decision
    return replace(
        decision, proposals=tuple(replace(p, escalated=True) for p in decision.proposals)
    )

"""A shadow side's agents: the conductor's agent ladders, perceiving the side's simulated world.

The live conductor proposes through its agents (``runtime.agents``): DR events, then
peak shaving with the forecast tier first and the rule policy when the forecast is
unsure or unavailable. A shadow side proposes through the same runners, built by the
same function (``build_runners``: tiers, cadence, confidence threshold, fallback),
and each runner's ladder (``AgentRunner.decide``) on a perception built the way the
shell builds it: the side's snapshot, its applied setpoints, a history sampled once
per cycle (``observed``), seeded with the 30 h before the run as the conductor seeds
it from its historian, and the DR events known at that instant. No I/O, no clock:
time is the side's simulated ``now``. A canary's sides decide with ``decide`` on the
perception the conductor's own agents had.

Only the agents a simulated side can perceive and act on run: ``dr_events`` and
``peak_shaving``. Anomaly detection, operator requests and PV curtailment need
inputs a shadow run does not have (scored telemetry windows, an operator, measured
bus voltages); the first proposal per asset wins, as in the shell.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import numpy as np

from runtime.agents.base import Perception, escalate, escalation
from runtime.agents.dr import DrEvent
from runtime.agents.peak import UNCONTROLLED
from runtime.agents.shell import Factories, build_runners, history_width, observed
from runtime.config.model import PeakShavingConfig, SiteConfig
from runtime.decide.step import Proposed
from runtime.shadow.inputs import KnownDrEvent
from safety import StateSnapshot

SIMULATED = frozenset({"dr_events", "peak_shaving"})  # agents a shadow side runs


def side_config(config: SiteConfig, peak: PeakShavingConfig) -> SiteConfig:
    """The config a side decides with: its peak-shaving parameters laid over the site's,
    as the conductor's ``decision_config`` lays the policy in production over it."""
    if peak == config.policy.peak_shaving:
        return config
    policy = config.policy.model_copy(update={"peak_shaving": peak})
    return config.model_copy(update={"policy": policy})


class SideAgents:
    """One side's agents and their history; ``propose`` is one conductor cycle's proposals."""

    def __init__(
        self,
        config: SiteConfig,
        *,
        dr_events: Sequence[KnownDrEvent] = (),
        factories: Factories | None = None,
        on_perceive: Callable[[Perception, datetime], None] | None = None,
    ) -> None:
        self.config = config
        self.runners = [r for r in build_runners(config, factories) if r.name in SIMULATED]
        base = timedelta(seconds=config.policy.peak_shaving.cadence_s)
        self.tick = min((r.cadence for r in self.runners), default=base)
        self.dr_events = tuple(sorted(dr_events, key=lambda k: k.known_at))
        self.on_perceive = on_perceive  # sees every perception (tests compare with the shell)
        self._width = history_width(self.tick)
        self.history: dict[str, deque[tuple[datetime, float]]] = {}
        self._last_run: dict[str, datetime] = {}
        # per agent: (proposals refused in a row, escalated), as ``AgentRunner.outcome`` keeps
        self._escalation: dict[str, tuple[int, bool]] = {}

    def seed(self, start: datetime, step_s: float, before_kw: np.ndarray | None) -> None:
        """The uncontrolled load before ``start`` (at ``step_s``, ending at ``start``) as
        means over the cycle step: what the conductor's shell seeds from its historian."""
        if before_kw is None or before_kw.size == 0:
            return
        step = max(self.tick, timedelta(minutes=1))
        per = max(1, round(step.total_seconds() / step_s))
        first = start - timedelta(seconds=step_s * before_kw.size)
        series = self._series(UNCONTROLLED)
        for b in range(0, before_kw.size, per):
            chunk = before_kw[b : b + per]
            series.append((first + timedelta(seconds=b * step_s), float(chunk.mean())))

    def due(self, now: datetime) -> bool:
        return any(self._due(r.name, r.cadence, now) for r in self.runners)

    def propose(
        self, snapshot: StateSnapshot, setpoints: dict[str, float], now: datetime
    ) -> list[Proposed]:
        """One cycle of the side: sample the history, perceive, decide."""
        for key, value in observed(snapshot, self.config).items():
            self._series(key).append((now, value))
        perception = Perception(
            snapshot=snapshot,
            setpoints=dict(setpoints),
            history={k: tuple(v) for k, v in self.history.items()},
            dr_events=self._dr_events(now),
        )
        if self.on_perceive is not None:
            self.on_perceive(perception, now)
        return self.decide(perception, now)

    def decide(
        self, perception: Perception, now: datetime, config: SiteConfig | None = None
    ) -> list[Proposed]:
        """Each due runner's ladder in priority order; the first proposal per asset wins.
        ``config``: what to decide with (default the side's; a canary passes it capped)."""
        decide_with = config or self.config
        claimed: set[str] = set()
        out: list[Proposed] = []
        for runner in self.runners:
            if not self._due(runner.name, runner.cadence, now):
                continue
            self._last_run[runner.name] = now
            step = runner.decide(perception, decide_with, now)
            decision = step.decision
            if self._escalation.get(runner.name, (0, False))[1]:
                decision = escalate(decision)
            for proposal in decision.proposals:
                if proposal.command.asset in claimed:
                    continue  # a higher-priority agent has the asset this cycle
                claimed.add(proposal.command.asset)
                out.append(Proposed(proposal=proposal, agent=runner.name, tier=step.tier))
        return out

    def outcome(self, agent: str, *, accepted: bool) -> None:
        """What the checks made of one of ``agent``'s proposals (the gate refused it or the
        twin / power flow blocked it: not accepted); feeds the escalation rule."""
        runner = next((r for r in self.runners if r.name == agent), None)
        if runner is None:
            return
        count, escalated = self._escalation.get(agent, (0, False))
        self._escalation[agent] = escalation(
            count, escalated, accepted=accepted, escalate_after=runner.escalate_after
        )

    def _dr_events(self, now: datetime) -> tuple[DrEvent, ...]:
        """The events known by ``now`` and not over, each at its latest revision (the same
        ``event_id`` again replaces it, as in the shell)."""
        known: dict[str, DrEvent] = {}
        for k in self.dr_events:
            if k.known_at > now:
                break
            known[k.event.event_id] = k.event
        return tuple(e for e in known.values() if e.end > now)

    def _due(self, name: str, cadence: timedelta, now: datetime) -> bool:
        last = self._last_run.get(name)
        return last is None or now >= last + cadence

    def _series(self, key: str) -> deque[tuple[datetime, float]]:
        if key not in self.history:
            self.history[key] = deque(maxlen=self._width)
        return self.history[key]

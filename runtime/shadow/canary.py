"""Canary runs: a candidate policy decides live, on the conductor's own snapshots.

The log is the only state: ``canary.started`` / ``canary.promoted`` /
``canary.rolled_back`` events say which policy is in production and which one,
if any, runs as a canary. While a canary is active, each conductor cycle runs
``decide_step`` for production and for the candidate on the same snapshot and
records one ``canary.decision`` event. Both sides decide as production would: under
the hierarchy controller's cap when one is in force (it lowers whichever policy runs),
and gated with the live dispatch history and feeder forecast. The candidate's
decisions are never handed to the gate's shell, the approvals or the outbox: they
are data in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from runtime.agents.base import Perception
from runtime.config import site
from runtime.config.model import PeakShavingConfig, SiteConfig
from runtime.core.errors import GridaiosError
from runtime.decide import gate_inputs
from runtime.decide.gate_inputs import GateInputs, SendHistory
from runtime.decide.step import (
    PRODUCTION,
    ActivePolicy,
    Decision,
    DecisionContext,
    UnknownCandidate,
    decide_step,
    resolve_policy,
)
from runtime.ingest.historian import Historian
from runtime.log import events as ev
from runtime.log.eventlog import EventLog
from runtime.shadow.agentside import SideAgents, side_config
from safety import Command, Envelope, Rejected, StateSnapshot

log = logging.getLogger(__name__)

KINDS = ("canary.started", "canary.promoted", "canary.rolled_back")


class CanaryError(GridaiosError):
    """A canary action does not fit the log's state (none active, one already active...)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CanaryState:
    """The projection of the canary events: production's name and the active canary."""

    production: str = PRODUCTION
    active: str | None = None
    started_at: datetime | None = None
    started_seq: int = 0
    seq: int = 0  # events up to here are folded in

    def apply(
        self, seq: int, kind: str, ts: datetime, payload: Mapping[str, object]
    ) -> CanaryState:
        candidate = str(payload.get("candidate", ""))
        if kind == "canary.started":
            return CanaryState(
                production=self.production,
                active=candidate,
                started_at=ts,
                started_seq=seq,
                seq=seq,
            )
        if kind == "canary.promoted":
            return CanaryState(production=candidate, seq=seq)
        if kind == "canary.rolled_back":
            return CanaryState(production=self.production, seq=seq)
        return self


def load_state(events: EventLog, state: CanaryState | None = None) -> CanaryState:
    state = state or CanaryState()
    for event in events.events(kinds=KINDS, after_seq=state.seq):
        state = state.apply(event.seq, event.kind, event.ts, event.payload)
    return state


def production_policy(config: SiteConfig, state: CanaryState) -> ActivePolicy:
    """The promoted policy, or the config's when the promoted candidate is no longer declared."""
    try:
        return resolve_policy(config, state.production)
    except UnknownCandidate as err:
        log.warning(
            "promoted policy %r is not in this config (%s): running the config's production",
            state.production,
            err,
        )
        return resolve_policy(config, PRODUCTION)


def decision_body(d: Decision) -> ev.CanaryDecisionBody:
    reason = ""
    if isinstance(d.verdict, Rejected):
        reason = "; ".join(h.reason for h in d.verdict.hits)
    elif d.validation is not None and not d.validation.ok:
        reason = d.validation.summary()
    elif d.grid is not None and not d.grid.ok:
        reason = d.grid.summary
    elif d.requirement is not None:
        reason = d.requirement.value
    return ev.CanaryDecisionBody(
        asset=d.proposal.command.asset,
        proposed_kw=d.proposal.command.value,
        outcome=d.outcome.value,
        value_kw=d.value_kw,
        reason=reason,
        key=d.proposal.command.key,
        tier=d.tier,
    )


def live_gate_inputs(
    sends: SendHistory,
    last_key: Mapping[str, str],
    envelope: Envelope,
    historian: Historian | None,
    snapshot: StateSnapshot,
    now: datetime,
) -> Callable[[Command], GateInputs]:
    """The gate inputs production's conductor builds, for a canary's commands at ``now``.

    ``last_key``: the newest send per asset as it stood before this cycle's own sends (a
    canary decides the same instant again, so production's send now is not its history).
    """

    def inputs(command: Command) -> GateInputs:
        return gate_inputs.collect(sends, last_key, envelope, historian, snapshot, command, now)

    return inputs


def inputs_of(config: SiteConfig, snapshot: StateSnapshot, battery: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, point in (
        ("meter_p_kw", site.point_id(config.feeder.meter, "p_kw")),
        ("battery_p_kw", site.point_id(battery, "p_kw")),
        ("soc_pct", site.point_id(battery, "soc_pct")),
    ):
        reading = snapshot.get(point)
        if reading is not None:
            out[name] = reading.value
    return out


class CanaryWatch:
    """The conductor's side of a canary: follows the log, decides, records; never dispatches."""

    def __init__(self, config: SiteConfig, events: EventLog, ctx: DecisionContext) -> None:
        self.config = config
        self.events = events
        self.ctx = ctx
        self.state = load_state(events)
        self.recorded = 0
        self.errors = 0
        self._agents: dict[str, tuple[ActivePolicy, SideAgents]] = {}  # by policy name

    def agents_for(self, policy: ActivePolicy) -> SideAgents:
        """The policy's agents (built once per policy, so the forecast memo and each agent's
        cadence carry over cycles), as the conductor builds its own from the config."""
        held = self._agents.get(policy.name)
        if held is None or held[0] != policy:
            held = (policy, SideAgents(side_config(self.config, policy.peak_shaving)))
            self._agents[policy.name] = held
        return held[1]

    def production_policy(self) -> ActivePolicy:
        return production_policy(self.config, self.state)

    def candidate_policy(self, production: ActivePolicy) -> ActivePolicy | None:
        if self.state.active is None:
            return None
        try:
            return resolve_policy(self.config, self.state.active)
        except UnknownCandidate as err:
            log.warning("canary %r: %s; no canary decisions", self.state.active, err)
            return None

    def observe(
        self,
        snapshot: StateSnapshot,
        now: datetime,
        setpoints: Mapping[str, float],
        production: ActivePolicy,
        *,
        cap: Callable[[PeakShavingConfig], PeakShavingConfig] | None = None,
        gate_inputs: Callable[[Command], GateInputs] | None = None,
        perception: Perception | None = None,
    ) -> list[Decision]:
        """One cycle: record what production and the candidate decide; return the candidate's.

        ``cap``: the controller's cap this cycle (``SiteLink.peak_shaving``), applied to both
        sides as production applies it to whichever policy it runs, so a candidate is
        compared with what production really decides, not with its uncapped config.
        ``gate_inputs``: the live dispatch history and feeder forecast production's gate takes.
        ``perception``: what the conductor's agents perceived this cycle; both sides propose
        through their agents on it (``SideAgents.decide``). None: the bare rule proposes.
        """
        self.state = load_state(self.events, self.state)  # started/stopped from another process
        candidate = self.candidate_policy(production)
        if candidate is None:
            return []
        try:
            agents = (
                (self.agents_for(production), self.agents_for(candidate))
                if perception is not None
                else None
            )
            if cap is not None:
                production = replace(production, peak_shaving=cap(production.peak_shaving))
                candidate = replace(candidate, peak_shaving=cap(candidate.peak_shaving))
            decided: list[list[Decision]] = []
            for i, policy in enumerate((production, candidate)):
                proposed = None
                if agents is not None and perception is not None:
                    seen = replace(perception, setpoints=dict(setpoints))
                    decide_with = side_config(self.config, policy.peak_shaving)
                    proposed = agents[i].decide(seen, now, decide_with)
                decided.append(
                    decide_step(
                        snapshot,
                        None,
                        self.ctx,
                        policy,
                        now,
                        setpoints=setpoints,
                        gate_inputs=gate_inputs,
                        proposed=proposed,
                    )
                )
            ours, theirs = decided
        except Exception:  # a canary never takes production down: log it, skip this cycle
            self.errors += 1
            if self.errors == 1:
                log.exception(
                    "canary %s: decision step failed; production continues", candidate.name
                )
            return []
        self.events.append_event(
            ev.CanaryDecision(
                candidate=candidate.name,
                production=production.name,
                inputs=inputs_of(self.config, snapshot, production.peak_shaving.battery),
                production_decisions=[decision_body(d) for d in ours],
                candidate_decisions=[decision_body(d) for d in theirs],
                differ=_signatures(ours) != _signatures(theirs),
            ),
            ts=now,
        )
        self.recorded += 1
        return theirs


def _signatures(decisions: Sequence[Decision]) -> list[tuple[object, ...]]:
    return [d.signature() for d in decisions]


# --- the engineer's actions (CLI, API): each one event, checked against the log's state ----


def start(
    events: EventLog, config: SiteConfig, candidate: str, *, user: str, reason: str, now: datetime
) -> CanaryState:
    state = load_state(events)
    if candidate == PRODUCTION or candidate == state.production:
        raise CanaryError(f"--candidate {candidate}: that is the production policy already")
    if state.active is not None:
        raise CanaryError(
            f"canary {state.active!r} is active since {state.started_at:%Y-%m-%d %H:%M} UTC: "
            "promote or roll it back first (gridaios canary promote | rollback)"
        )
    policy = resolve_policy(config, candidate)  # UnknownCandidate lists the known names
    events.append_event(
        ev.CanaryStarted(
            candidate=candidate,
            production=state.production,
            user=user,
            reason=reason,
            models=dict(policy.models),
        ),
        ts=now,
    )
    return load_state(events, state)


def promote(
    events: EventLog, config: SiteConfig, *, user: str, reason: str, now: datetime
) -> CanaryState:
    state = _active(events)
    assert state.active is not None
    policy = resolve_policy(config, state.active)
    events.append_event(
        ev.CanaryPromoted(
            candidate=state.active,
            previous=state.production,
            user=user,
            reason=reason,
            models=dict(policy.models),
        ),
        ts=now,
    )
    return load_state(events, state)


def rollback(events: EventLog, *, user: str, reason: str, now: datetime) -> CanaryState:
    state = _active(events)
    assert state.active is not None
    events.append_event(
        ev.CanaryRolledBack(
            candidate=state.active, production=state.production, user=user, reason=reason
        ),
        ts=now,
    )
    return load_state(events, state)


def _active(events: EventLog) -> CanaryState:
    state = load_state(events)
    if state.active is None:
        raise CanaryError(
            f"no canary is active (production: {state.production}); "
            "start one with gridaios canary start --candidate NAME"
        )
    return state

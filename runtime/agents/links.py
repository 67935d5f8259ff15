"""What the agent set takes from the conductor that runs it: narrow links, not the conductor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from runtime.agents.observer import Revert
from runtime.config.model import SiteConfig
from runtime.core.clock import Clock
from runtime.decide.policy import Proposal
from runtime.decide.step import Outcome
from runtime.ingest.historian import Historian
from runtime.ingest.state import LatestState
from runtime.log.deadletter import DeadLetterStore
from runtime.log.eventlog import EventLog
from safety import StateSnapshot


# Hand a proposal to the decision step and its shell: the outcome, or None when that
# decision instant was already decided (e.g. before a restart).
class Handle(Protocol):
    """The conductor's decision of one proposal (``Conductor.handle``)."""

    def __call__(
        self,
        proposal: Proposal,
        snapshot: StateSnapshot,
        now: datetime,
        *,
        proposed_by: str | None = None,
    ) -> Awaitable[Outcome | None]: ...


REFUSED = (Outcome.REJECTED, Outcome.BLOCKED)


@dataclass(frozen=True, slots=True, kw_only=True)
class Links:
    """What the agent set takes from the conductor that runs it, and nothing more."""

    config: SiteConfig
    events: EventLog
    historian: Historian | None
    clock: Clock
    dlq: DeadLetterStore | None
    state: LatestState  # the latest values (the OpenADR VEN reads the meter from it)
    snapshot: Callable[[], StateSnapshot]  # the latest state
    setpoints: Callable[[], Mapping[str, float]]  # what each asset runs now
    decision_config: Callable[[], SiteConfig]  # the policy in production, under any cap
    handle: Handle
    revert: Revert

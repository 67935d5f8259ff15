"""The conductor's side of the decision step: the gate's inputs from the log and the
historian, ``decide_step`` on them, each step recorded as an event and counted.

The step itself is pure (``runtime.decide.step``); this is only what production feeds it
and how production records it. The gate alone (an operator's revert, a restart's
re-check of an in-flight command) also goes through here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime

from runtime.decide import step as decision
from runtime.decide.gate_inputs import GateInputs
from runtime.decide.policy import Proposal
from runtime.decide.step import Decision, DecisionContext
from runtime.ingest import gate_feed
from runtime.ingest.historian import Historian
from runtime.log import events as ev
from runtime.log.eventlog import EventLog
from safety import Accepted, ApprovedCommand, Clamped, Command, Rejected, StateSnapshot


class Decider:
    def __init__(
        self,
        events: EventLog,
        counts: Counter[str],
        context: DecisionContext,
        historian: Historian | None,
        last_key: Callable[[], Mapping[str, str]],
    ) -> None:
        self.events = events
        self.counts = counts
        self.context = context
        self.historian = historian
        self.last_key = last_key  # the newest dispatch per asset (the projections')
        self.sends = gate_feed.SendHistory(events)  # the gate's history, read incrementally

    def inputs(self, command: Command, snapshot: StateSnapshot, now: datetime) -> GateInputs:
        """The gate's history (from the log) and feeder forecast (from the historian)."""
        return gate_feed.collect(
            self.sends,
            self.last_key(),
            self.context.envelope,
            self.historian,
            snapshot,
            command,
            now,
        )

    def decide(self, proposal: Proposal, snapshot: StateSnapshot, now: datetime) -> Decision:
        """The one decision step, on the gate inputs production collects."""
        inputs = self.inputs(proposal.command, snapshot, now)
        return decision.decide_step(proposal, snapshot, inputs, self.context, now)

    def record(self, d: Decision, now: datetime, *, recheck: bool = False) -> None:
        did = d.proposal.command.key
        for event in d.recorded(recheck=recheck):
            self.events.append_event(event, ts=now, dispatch_id=did)
        if isinstance(d.verdict, Rejected):
            self.counts["rejected"] += 1
        elif isinstance(d.verdict, Clamped):
            self.counts["clamped"] += 1

    def gate(
        self, command: Command, snapshot: StateSnapshot, now: datetime
    ) -> ApprovedCommand | None:
        """The gate alone, recorded (an operator's revert: no twin, no approval rule)."""
        inputs = self.inputs(command, snapshot, now)
        verdict = decision.gate_one(command, snapshot, self.context.envelope, now, inputs)
        self.events.append_event(inputs.gated(verdict), ts=now, dispatch_id=command.key)
        match verdict:
            case Rejected():
                self.counts["rejected"] += 1
                reasons = "; ".join(h.reason for h in verdict.hits)
                self.events.append_event(
                    ev.DispatchRejected(reason=reasons), ts=now, dispatch_id=command.key
                )
                return None
            case Clamped():
                self.counts["clamped"] += 1
                return verdict.approved
            case Accepted():
                return verdict.approved

    def regate(
        self, command: Command, snapshot: StateSnapshot, now: datetime
    ) -> ApprovedCommand | None:
        """The gate alone, not recorded: a restart's re-check of an in-flight command
        (the outbox records it in ``dispatch.resumed``)."""
        inputs = self.inputs(command, snapshot, now)
        verdict = decision.gate_one(command, snapshot, self.context.envelope, now, inputs)
        return verdict.approved if isinstance(verdict, Accepted | Clamped) else None

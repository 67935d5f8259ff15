"""Operator intent: a request in words -> the router's typed intent -> a proposal.

``interpret`` asks the model router (rules first, then the local LLM, see
``forecasting.assistant``); the agent turns each pending request into an ordinary
command with origin ``operator`` and the user recorded as the proposer. It goes
through the same gate, simulator and approvals as every other proposal.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from runtime.agents.base import Decision, Perception
from runtime.config.model import SiteConfig
from runtime.decide.policy import Proposal
from runtime.log import events as ev
from runtime.log.eventlog import EventLog
from runtime.words.sign import signed_value
from safety import Command, CommandKind, Origin

if TYPE_CHECKING:
    from forecasting.intent import Intent
    from forecasting.router import Router


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorRequest:
    request_id: str  # unique per request: it becomes part of the idempotency key
    user: str
    text: str
    intent: Intent
    tier: str  # which router tier understood it (rules, llm, fallback)
    received_at: datetime


def interpret(text: str, router: Router, *, llm: bool = False) -> tuple[Intent, str]:
    """The router's intent for ``text`` and the tier that produced it."""
    from forecasting.assistant import Assistant

    assistant = Assistant(router) if llm else Assistant(router, llm=None)
    routed = assistant.intent(text)
    return routed.value.intent, routed.tier


def request(
    log: EventLog, *, user: str, text: str, intent: Intent, tier: str, now: datetime
) -> str:
    """Queue a request for the running conductor (any process); returns its request id."""
    request_id = uuid.uuid4().hex[:12]
    log.append_event(
        ev.AgentIntentRequested(
            request_id=request_id, user=user, text=text, intent=intent.model_dump(), tier=tier
        ),
        ts=now,
    )
    return request_id


def requested(log: EventLog, after_seq: int) -> list[tuple[int, OperatorRequest]]:
    """(seq, request) of operator requests newer than ``after_seq``."""
    found = list(log.events(kinds=("agent.intent_requested",), after_seq=after_seq))
    if not found:
        return []  # the common case: no import of forecasting (it loads statsforecast)
    from forecasting.intent import validate_intent

    return [
        (
            e.seq,
            OperatorRequest(
                request_id=str(e.payload["request_id"]),
                user=str(e.payload["user"]),
                text=str(e.payload["text"]),
                intent=validate_intent(e.payload["intent"]),
                tier=str(e.payload["tier"]),
                received_at=e.ts,
            ),
        )
        for e in found
    ]


def _end(intent: Intent, now: datetime, default: timedelta, zone: ZoneInfo) -> datetime:
    """``until`` is site local time (``safety.timezone``); the next such instant."""
    if not intent.until:
        return now + default
    hh, mm = (int(x) for x in intent.until.split(":"))
    local = now.astimezone(zone)
    end = datetime.combine(local.date(), time(hh, mm), tzinfo=zone)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(now.tzinfo)


class OperatorIntentAgent:
    name = "operator_intent"

    def decide(self, perception: Perception, config: SiteConfig, now: datetime) -> Decision:
        duration = timedelta(seconds=config.agents.operator_intent.command_duration_s)
        proposals: list[Proposal] = []
        notes: list[str] = []
        known = {a.id for a in config.assets}
        max_age = timedelta(seconds=config.agents.operator_intent.max_age_s)
        for req in perception.requests:
            intent = req.intent
            if now - req.received_at > max_age:
                notes.append(
                    f"{req.user}: {req.text!r} is {(now - req.received_at).total_seconds():.0f} s "
                    f"old (> {max_age.total_seconds():.0f} s): not acted on; ask again"
                )
                continue
            if intent.action == "unknown" or intent.asset not in known:
                notes.append(f"{req.user}: {req.text!r} not understood; nothing proposed")
                continue
            kind = (
                CommandKind.CURTAIL_PCT
                if intent.action == "curtail"
                else CommandKind.ACTIVE_POWER_KW
            )
            value = signed_value(intent.action, float(intent.value))  # the one sign rule
            command = Command(
                key=f"{config.site.id}-{intent.asset}-op-{req.request_id}",
                asset=intent.asset,
                kind=kind,
                value=value,
                start=now,
                end=_end(intent, now, duration, ZoneInfo(config.safety.timezone)),
                origin=Origin.OPERATOR,
            )
            rationale = (
                f"operator {req.user} asked {req.text!r}: {intent.action} {intent.asset} "
                f"{value:g} {intent.unit} (understood by {req.tier})"
            )
            proposals.append(
                Proposal(
                    command=command,
                    policy="operator_intent",
                    rationale=rationale,
                    inputs={"value": value},
                    proposer=req.user,
                )
            )
            notes.append(rationale)
        return Decision(proposals=tuple(proposals), rationale="; ".join(notes))

"""Opt-in with sign-off: a DR event's commitment above the program's thresholds waits for an
operator before the VEN answers the VTN (docs/dr.md).

``rule`` is pure: the commitment (the largest reduction in kW and its kW x h over the
event) against the program's ``thresholds``, and any opt-in of a program that names a
shortfall penalty, need an operator. ``OptInDesk`` is the small hook into the existing
approval book (``runtime.approvals``): it records an ``approval.requested`` (dispatch id
``dr-optin-<event>-<modification>``, requirement one operator, plan = the commitment as
a command body so the grant is bound to it, expiring at the program's response
deadline), so the console and ``gridaios approvals list|approve|reject`` show and decide
it like any request. It then watches the book: granted -> opt in, rejected -> opt out,
nobody before the deadline -> the program's ``opt_in_default`` (an ``approval.expired``
with the reason). Every decision is a ``dr.optin.decided`` event in the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from connectors.openadr.translate import OadrEvent
from runtime.approvals import book as approvals
from runtime.config.openadr import OpenAdrConfig, ProgramConfig
from runtime.log import events as ev
from runtime.log.eventlog import EventLog

log = logging.getLogger(__name__)

OptType = Literal["optIn", "optOut"]
DECIDED = "dr.optin.decided"


@dataclass(frozen=True, slots=True, kw_only=True)
class Commitment:
    kw: float
    kwh: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    opt: OptType | None  # None: an operator decides
    reason: str


def commitment(event: OadrEvent, flexibility_kw: float) -> Commitment:
    return Commitment(kw=event.commitment_kw(flexibility_kw), kwh=event.energy_kwh(flexibility_kw))


def rule(event: OadrEvent, program: ProgramConfig | None, flexibility_kw: float) -> Verdict:
    """Opt in automatically, opt out, or ask an operator. Pure."""
    if program is None:
        return Verdict(opt="optOut", reason=f"program {event.program!r} is not in openadr.programs")
    c = commitment(event, flexibility_kw)
    limits = program.thresholds
    if program.penalty_per_kwh is not None:
        return Verdict(
            opt=None,
            reason=f"program {program.name} names a shortfall penalty of "
            f"{program.penalty_per_kwh:g}/kWh: an operator signs every opt-in off",
        )
    if c.kw > limits.max_auto_kw:
        return Verdict(
            opt=None, reason=f"{c.kw:.0f} kW is above the {limits.max_auto_kw:.0f} kW auto limit"
        )
    if c.kwh > limits.max_auto_kwh:
        return Verdict(
            opt=None,
            reason=f"{c.kwh:.0f} kWh is above the {limits.max_auto_kwh:.0f} kWh auto limit",
        )
    return Verdict(opt="optIn", reason=f"{c.kw:.0f} kW, {c.kwh:.0f} kWh: within the auto limits")


def dispatch_id(event: OadrEvent) -> str:
    return f"dr-optin-{event.event_id}-{event.modification}"


class OptInDesk:
    """The VEN's ``decide``: the rule, then the approval book when an operator must sign."""

    def __init__(
        self,
        events: EventLog,
        config: OpenAdrConfig,
        *,
        clock: Callable[[], datetime],
        flexibility_kw: float,
        asset: str,
        poll_s: float = 0.5,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self.events = events
        self.config = config
        self.clock = clock
        self.flexibility_kw = flexibility_kw
        self.asset = asset
        self.poll_s = poll_s
        self._sleep = sleep

    async def __call__(self, event: OadrEvent) -> OptType:
        program = self.config.program(event.program)
        verdict = rule(event, program, self._flex(program))
        if verdict.opt is not None or program is None:
            opt = verdict.opt or "optOut"
            self._decided(event, opt, "auto", verdict.reason)
            return opt
        return await self._ask(event, program, verdict.reason)

    def _flex(self, program: ProgramConfig | None) -> float:
        if program is not None and program.flexibility_kw is not None:
            return program.flexibility_kw
        return self.flexibility_kw

    async def _ask(self, event: OadrEvent, program: ProgramConfig, why: str) -> OptType:
        now = self.clock()
        did = dispatch_id(event)
        c = commitment(event, self._flex(program))
        deadline = now + timedelta(seconds=program.response_deadline_s)
        body = ev.CommandBody(
            key=did,
            asset=self.asset,
            kind="active_power_kw",
            value=round(c.kw, 3),
            start=event.start,
            end=event.end,
            origin="dr_event",
        )
        plan = [body.model_dump(mode="json")]
        default: OptType = "optIn" if program.opt_in_default == "opt_in" else "optOut"
        self.events.append_event(
            ev.ApprovalRequested(
                requirement=approvals.Requirement.ONE_OPERATOR.value,
                expires_at=deadline,
                asset=self.asset,
                value=round(c.kw, 3),
                rationale=(
                    f"opt in to OpenADR event {event.event_id} (program {program.name}, "
                    f"{event.signal}) from {event.start.isoformat()} to "
                    f"{event.end.isoformat()}: {c.kw:.0f} kW, {c.kwh:.0f} kWh; {why}. "
                    f"Unanswered by {deadline.isoformat()}: "
                    f"{'opt in' if default == 'optIn' else 'opt out'} (program default)"
                ),
                simulation="an opt-in commits the site; each dispatch during the event "
                "still passes the safety gate, the twin and approvals",
                commands=[body],
                plan_hash=approvals.plan_hash(plan),
                proposed_by=f"openadr:{program.name}",
            ),
            ts=now,
            dispatch_id=did,
        )
        log.info(
            "OpenADR event %s awaits an operator: gridaios approvals approve %s",
            event.event_id,
            did,
        )
        while True:
            book = approvals.BookFold()
            for logged in self.events.events(dispatch_id=did, kinds=approvals.BOOK_KINDS):
                book.apply(logged)
            closed = (book.closed or {}).get(did)
            if closed == approvals.REFUSED:
                self._decided(event, "optOut", "operator", "rejected by an operator")
                return "optOut"
            if closed is not None:
                self._decided(event, default, "default", f"request closed ({closed})")
                return default
            pending = book.open.get(did)
            if pending is not None and pending.complete:
                who = ", ".join(pending.approvers)
                # used once: the request leaves the book as the opt-in goes to the VTN
                self.events.append_event(
                    ev.DispatchSuperseded(reason=f"opt-in sent to the VTN, approved by {who}"),
                    ts=self.clock(),
                    dispatch_id=did,
                )
                self._decided(event, "optIn", "operator", f"approved by {who}")
                return "optIn"
            now = self.clock()
            if now >= deadline:
                reason = (
                    f"no decision before the response deadline {deadline.isoformat()}: "
                    f"program default {program.opt_in_default}"
                )
                self.events.append_event(ev.ApprovalExpired(reason=reason), ts=now, dispatch_id=did)
                self._decided(event, default, "default", reason)
                return default
            await _maybe_await(self._sleep(self.poll_s))

    def _decided(self, event: OadrEvent, opt: OptType, by: str, reason: str) -> None:
        self.events.append(
            DECIDED,
            {
                "event_id": event.event_id,
                "modification": event.modification,
                "program": event.program,
                "opt": opt,
                "by": by,
                "reason": reason,
            },
            ts=self.clock(),
            dispatch_id=dispatch_id(event) if by != "auto" else None,
        )


async def _maybe_await(value: object) -> None:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        await value


__all__ = ["DECIDED", "Commitment", "OptInDesk", "Verdict", "commitment", "dispatch_id", "rule"]

"""The outbox: durable before send, one idempotency key per command, resume after a crash.

``submit`` writes ``dispatch.approved`` (fsync'd) before the first byte goes to a
device; every attempt is recorded (``dispatch.sent`` with its attempt number)
before the write; a retry re-sends the same key; the device deduplicates by key. A
device that answers ``expired`` (``WriteExpired``: the window has passed on its clock)
ends the dispatch as expired with its reason; it is not sent again.
After a crash, ``resume`` re-sends every command still in flight, newest per asset
only (an older key is never re-sent after a newer one), unless it has expired.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from connectors import ConnectorError, WriteExpired, WriteRefused
from runtime.core.clock import Clock
from runtime.log import events as ev
from runtime.log.deadletter import DeadLetterStore
from runtime.log.dispatch import DispatchRecord, Projections, State
from runtime.log.eventlog import EventLog
from runtime.service.jobs import Breakers, RetryPolicy
from safety import ApprovedCommand

log = logging.getLogger(__name__)


class WriteOutcome(Protocol):
    @property
    def applied_key(self) -> str: ...
    @property
    def readback_value(self) -> float: ...
    @property
    def verified(self) -> bool: ...


Writer = Callable[[ApprovedCommand, str], Awaitable[WriteOutcome]]  # (command, source)
Regate = Callable[[DispatchRecord, datetime], ApprovedCommand | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    dispatch_id: str
    state: State
    attempts: int
    reason: str = ""


def command_body(approved: ApprovedCommand) -> ev.CommandBody:
    c = approved.command
    return ev.CommandBody(
        key=c.key,
        asset=c.asset,
        kind=c.kind.value,
        value=c.value,
        start=c.start,
        end=c.end,
        origin=c.origin.value,
    )


class Outbox:
    def __init__(
        self,
        events: EventLog,
        write: Writer,
        clock: Clock,
        *,
        retry: RetryPolicy | None = None,
        breakers: Breakers | None = None,
        dlq: DeadLetterStore | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.events = events
        self._write = write
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.breakers = breakers or Breakers()
        self.dlq = dlq
        self._rng = rng or random.Random()
        self._sleep = sleep

    async def submit(self, approved: ApprovedCommand, source: str, rollback_kw: float) -> Delivery:
        """Record the command durably, then deliver it."""
        self.events.append_event(
            ev.DispatchApproved(
                command=command_body(approved),
                value=approved.value,
                source=source,
                rollback_kw=rollback_kw,
                max_attempts=self.retry.max_attempts,
            ),
            ts=self.clock(),
            dispatch_id=approved.key,
        )
        return await self.deliver(approved, source, rollback_kw, first_attempt=1)

    async def deliver(
        self,
        approved: ApprovedCommand,
        source: str,
        rollback_kw: float,
        *,
        first_attempt: int,
        max_attempts: int | None = None,
    ) -> Delivery:
        did = approved.key
        attempt = first_attempt
        limit = max_attempts or self.retry.max_attempts
        while True:
            now = self.clock()
            if now >= approved.end:
                return self._expire(
                    did, attempt - 1, f"command window ended at {approved.end:%H:%M:%S}"
                )
            breaker = self.breakers(f"connector:{source}")
            reason = ""
            if breaker.allow(now):
                self.events.append_event(
                    ev.DispatchSent(
                        value=approved.value,
                        source=source,
                        rollback_kw=rollback_kw,
                        attempt=attempt,
                    ),
                    ts=now,
                    dispatch_id=did,
                )
                try:
                    result = await self._write(approved, source)
                except WriteExpired as err:
                    # The device answered: the link works, and the command is over for good.
                    breaker.success()
                    return self._expire(did, attempt, f"the device refused it as expired: {err}")
                except WriteRefused as err:
                    # Permanent (type, access, range): the link works, a retry cannot help.
                    breaker.success()
                    return self._refused(approved, source, attempt, f"device refused: {err}")
                except ConnectorError as err:
                    breaker.failure(self.clock())
                    reason = f"write failed: {err}"
                else:
                    breaker.success()
                    if result.applied_key == did:
                        return self._settle(approved, source, result, attempt)
                    # Not confirmed yet (a slow scan, a lost write): resend the same key.
                    reason = (
                        f"device has not confirmed key {did!r} (reports {result.applied_key!r})"
                    )
            else:
                reason = f"circuit connector:{source} is open"
            self.events.append_event(
                ev.DispatchFailed(reason=reason, attempt=attempt, retryable=True),
                ts=self.clock(),
                dispatch_id=did,
            )
            if attempt >= limit:
                return self._dead_letter(approved, source, attempt, reason)
            delay = self.retry.delay_s(attempt, self._rng)
            self.events.append_event(
                ev.DispatchRetried(attempt=attempt + 1, delay_s=round(delay, 3), reason=reason),
                ts=self.clock(),
                dispatch_id=did,
            )
            await self._sleep(delay)
            attempt += 1

    def _settle(
        self, approved: ApprovedCommand, source: str, result: WriteOutcome, attempt: int
    ) -> Delivery:
        """The device applied our key: verified, or it runs another value (a human looks)."""
        did = approved.key
        now = self.clock()
        self.events.append_event(
            ev.DispatchAcked(applied_key=result.applied_key, readback_kw=result.readback_value),
            ts=now,
            dispatch_id=did,
        )
        if not result.verified:
            reason = f"read-back {result.readback_value:g} does not match {approved.value:g}"
            self.events.append_event(
                ev.DispatchFailed(reason=reason, attempt=attempt, retryable=False),
                ts=now,
                dispatch_id=did,
            )
            return self._dead_letter(approved, source, attempt, reason)
        self.events.append_event(ev.DispatchVerified(value=approved.value), ts=now, dispatch_id=did)
        return Delivery(dispatch_id=did, state=State.VERIFIED, attempts=attempt)

    def _refused(
        self, approved: ApprovedCommand, source: str, attempt: int, reason: str
    ) -> Delivery:
        self.events.append_event(
            ev.DispatchFailed(reason=reason, attempt=attempt, retryable=False),
            ts=self.clock(),
            dispatch_id=approved.key,
        )
        return self._dead_letter(approved, source, attempt, reason)

    def _expire(self, did: str, attempts: int, reason: str) -> Delivery:
        self.events.append_event(
            ev.DispatchExpired(reason=f"{reason}; not sent again"), ts=self.clock(), dispatch_id=did
        )
        return Delivery(dispatch_id=did, state=State.EXPIRED, attempts=attempts, reason=reason)

    def _dead_letter(
        self, approved: ApprovedCommand, source: str, attempts: int, reason: str
    ) -> Delivery:
        did = approved.key
        dlq_id = None
        if self.dlq is not None:
            body = {"dispatch_id": did, "asset": approved.asset, "value": approved.value}
            dlq_id = self.dlq.put(
                "dispatch", source, reason, json.dumps(body).encode(), self.clock()
            )
        self.events.append_event(
            ev.DispatchDeadLettered(reason=f"{attempts} attempts failed: {reason}", dlq_id=dlq_id),
            ts=self.clock(),
            dispatch_id=did,
        )
        log.warning("dispatch %s dead-lettered after %d attempts: %s", did, attempts, reason)
        return Delivery(
            dispatch_id=did, state=State.DEAD_LETTERED, attempts=attempts, reason=reason
        )

    async def retry_dead(
        self, record: DispatchRecord, projections: Projections, regate: Regate
    ) -> Delivery:
        """An operator asked to retry a dead-lettered command: same key, a fresh budget.

        Refused (expired) when a newer command for the asset went out since, when
        its window has ended, or when the gate now allows a different value.
        """
        did = record.dispatch_id
        newest = projections.last_key.get(record.asset)
        if newest is not None and newest != did:
            return self._expire(did, record.attempts, f"a newer command ({newest}) went out since")
        now = self.clock()
        end = datetime.fromisoformat(str(record.command["end"]))
        if now >= end:
            return self._expire(did, record.attempts, f"command window ended at {end:%H:%M:%S}")
        approved = regate(record, now)
        if approved is None or record.value is None or abs(approved.value - record.value) > 1e-9:
            return self._expire(did, record.attempts, "the gate now decides differently")
        self.events.append_event(
            ev.DispatchRetried(
                attempt=record.attempts + 1, delay_s=0.0, reason="operator retry from the DLQ"
            ),
            ts=now,
            dispatch_id=did,
        )
        return await self.deliver(
            approved,
            record.source,
            record.rollback_kw,
            first_attempt=record.attempts + 1,
            max_attempts=record.attempts + self.retry.max_attempts,
        )

    async def resume(self, projections: Projections, regate: Regate) -> list[Delivery]:
        """Finish every command that was in flight when the runtime stopped."""
        out: list[Delivery] = []
        newest: dict[str, DispatchRecord] = {}
        for record in projections.in_flight():
            older = newest.get(record.asset)
            if older is not None:
                out.append(
                    self._expire(older.dispatch_id, older.attempts, "a newer command exists")
                )
            newest[record.asset] = record
        for record in newest.values():
            out.append(await self._resume_one(record, regate))
        return out

    async def _resume_one(self, record: DispatchRecord, regate: Regate) -> Delivery:
        did = record.dispatch_id
        now = self.clock()
        end = datetime.fromisoformat(str(record.command["end"]))
        if now >= end:
            return self._expire(did, record.attempts, f"command window ended at {end:%H:%M:%S}")
        approved = regate(record, now)
        if approved is None or record.value is None or abs(approved.value - record.value) > 1e-9:
            got = "rejected" if approved is None else f"{approved.value:g}"
            reason = f"re-check at restart gives {got}, recorded {record.value}: not re-sent"
            self.events.append_event(
                ev.DispatchFailed(reason=reason, attempt=record.attempts, retryable=False),
                ts=now,
                dispatch_id=did,
            )
            return self._expire(did, record.attempts, "state changed while the runtime was down")
        self.events.append_event(
            ev.DispatchResumed(from_state=record.state.value, attempt=record.attempts + 1),
            ts=now,
            dispatch_id=did,
        )
        log.info("dispatch %s resumed from %s (same key)", did, record.state.value)
        return await self.deliver(
            approved, record.source, record.rollback_kw, first_attempt=record.attempts + 1
        )

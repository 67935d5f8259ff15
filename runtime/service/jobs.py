"""Jobs: a priority queue (safety > dispatch > forecasting > reporting) with deadlines,
retries with exponential back-off and jitter, and circuit breakers per connector / model.

Pure parts (``RetryPolicy.delay_s``, ``CircuitBreaker`` transitions) take ``now`` and
a random source as arguments; ``JobRunner`` is the asyncio shell.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

from runtime.core.clock import Clock
from runtime.core.errors import GridaiosError

log = logging.getLogger(__name__)


class Priority(IntEnum):
    """Lower runs first."""

    SAFETY = 0
    DISPATCH = 1
    FORECASTING = 2
    REPORTING = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 5
    base_s: float = 0.2
    factor: float = 2.0
    max_s: float = 30.0
    jitter: float = 0.5  # +- this fraction of the delay

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """Back-off before attempt ``attempt + 1`` (``attempt`` >= 1 just failed)."""
        raw = min(self.max_s, self.base_s * self.factor ** (attempt - 1))
        return max(0.0, raw * (1.0 + self.jitter * (2.0 * rng.random() - 1.0)))


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(GridaiosError):
    """The breaker for a connector or model is open: use the safe default, retry later."""


@dataclass(slots=True, kw_only=True)
class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; one trial call after ``cooldown``."""

    name: str
    threshold: int = 5
    cooldown: timedelta = timedelta(seconds=30)
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: datetime | None = None

    def allow(self, now: datetime) -> bool:
        if self.state is BreakerState.OPEN:
            assert self.opened_at is not None
            if now - self.opened_at >= self.cooldown:
                self.state = BreakerState.HALF_OPEN
                log.info("circuit %s half-open: one trial call", self.name)
                return True
            return False
        return True

    def check(self, now: datetime) -> None:
        if not self.allow(now):
            raise CircuitOpen(
                f"circuit {self.name} is open after {self.failures} failures; "
                f"next trial at {(self.opened_at or now) + self.cooldown:%H:%M:%S}"
            )

    def success(self) -> None:
        if self.state is not BreakerState.CLOSED:
            log.warning("circuit %s closed again", self.name)
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = None

    def failure(self, now: datetime) -> None:
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            if self.state is not BreakerState.OPEN:
                log.warning("circuit %s open after %d failures", self.name, self.failures)
            self.state = BreakerState.OPEN
            self.opened_at = now


@dataclass(slots=True)
class Breakers:
    """One breaker per connector or model, created on first use."""

    threshold: int = 5
    cooldown: timedelta = timedelta(seconds=30)
    by_name: dict[str, CircuitBreaker] = field(default_factory=dict)

    def __call__(self, name: str) -> CircuitBreaker:
        if name not in self.by_name:
            self.by_name[name] = CircuitBreaker(
                name=name, threshold=self.threshold, cooldown=self.cooldown
            )
        return self.by_name[name]


class DeadlineExceeded(GridaiosError):
    """A job did not finish before its deadline: it is not run or retried any more."""


@dataclass(slots=True, kw_only=True)
class Job:
    name: str
    priority: Priority
    run: Callable[[], Awaitable[None]]
    deadline: datetime | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: str | None = None
    attempts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class JobOutcome:
    name: str
    ok: bool
    attempts: int
    reason: str = ""


class JobRunner:
    """Runs jobs one at a time in priority order (FIFO within a priority)."""

    def __init__(
        self,
        clock: Clock,
        *,
        breakers: Breakers | None = None,
        rng: random.Random | None = None,
        on_dead: Callable[[Job, str], None] | None = None,
    ) -> None:
        self.clock = clock
        self.breakers = breakers or Breakers()
        self._rng = rng or random.Random()
        self._heap: list[tuple[int, int, Job]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._on_dead = on_dead
        self.outcomes: list[JobOutcome] = []

    def submit(self, job: Job) -> None:
        heapq.heappush(self._heap, (int(job.priority), next(self._order), job))
        self._wake.set()

    def pending(self) -> list[str]:
        return [j.name for _, _, j in sorted(self._heap)]

    async def run_once(self) -> JobOutcome | None:
        """Take the most urgent job and run one attempt of it."""
        if not self._heap:
            return None
        _, _, job = heapq.heappop(self._heap)
        now = self.clock()
        if job.deadline is not None and now > job.deadline:
            return self._finish(job, False, f"deadline {job.deadline.isoformat()} passed")
        breaker = self.breakers(job.breaker) if job.breaker else None
        if breaker is not None and not breaker.allow(now):
            return self._finish(job, False, f"circuit {breaker.name} open")
        job.attempts += 1
        try:
            if job.deadline is not None:
                async with asyncio.timeout((job.deadline - now).total_seconds()):
                    await job.run()
            else:
                await job.run()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a job's failure is data for its retry policy
            if breaker is not None:
                breaker.failure(self.clock())
            if job.attempts >= job.retry.max_attempts:
                return self._finish(job, False, f"{job.attempts} attempts failed: {err!r}")
            delay = job.retry.delay_s(job.attempts, self._rng)
            log.info(
                "job %s attempt %d failed (%r); retry in %.2f s", job.name, job.attempts, err, delay
            )
            asyncio.get_running_loop().call_later(delay, self.submit, job)
            return None
        if breaker is not None:
            breaker.success()
        return self._finish(job, True, "")

    async def run(self) -> None:
        """Serve jobs until cancelled."""
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
            await self.run_once()

    def _finish(self, job: Job, ok: bool, reason: str) -> JobOutcome:
        outcome = JobOutcome(name=job.name, ok=ok, attempts=job.attempts, reason=reason)
        self.outcomes.append(outcome)
        if not ok and self._on_dead is not None:
            self._on_dead(job, reason)
        return outcome

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from runtime.core.clock import FixedClock
from runtime.service.jobs import (
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    Job,
    JobRunner,
    Priority,
    RetryPolicy,
)

T0 = datetime(2026, 7, 15, 17, 0, tzinfo=UTC)


def test_backoff_grows_exponentially_within_jitter_and_cap() -> None:
    policy = RetryPolicy(base_s=1.0, factor=2.0, max_s=10.0, jitter=0.25)
    rng = random.Random(3)
    for attempt, raw in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)]:
        delays = [policy.delay_s(attempt, rng) for _ in range(200)]
        assert all(raw * 0.75 <= d <= raw * 1.25 for d in delays)
        assert len({round(d, 6) for d in delays}) > 100  # jittered, not constant


def test_breaker_opens_after_threshold_and_half_opens_after_cooldown() -> None:
    b = CircuitBreaker(name="connector:field", threshold=3, cooldown=timedelta(seconds=30))
    for _ in range(2):
        b.failure(T0)
    assert b.allow(T0) and b.state is BreakerState.CLOSED
    b.failure(T0)
    assert b.state is BreakerState.OPEN and not b.allow(T0 + timedelta(seconds=29))
    with pytest.raises(CircuitOpen, match="connector:field"):
        b.check(T0 + timedelta(seconds=29))
    assert b.allow(T0 + timedelta(seconds=30)) and b.state is BreakerState.HALF_OPEN
    b.failure(T0 + timedelta(seconds=31))  # the trial failed: open again
    assert b.state is BreakerState.OPEN
    assert b.allow(T0 + timedelta(seconds=61))
    b.success()
    assert b.state is BreakerState.CLOSED and b.failures == 0


def test_jobs_run_in_priority_order_fifo_within_a_priority() -> None:
    ran: list[str] = []

    def job(name: str, priority: Priority) -> Job:
        async def run() -> None:
            ran.append(name)

        return Job(name=name, priority=priority, run=run)

    async def main() -> None:
        runner = JobRunner(FixedClock(T0))
        for name, p in [
            ("report", Priority.REPORTING),
            ("forecast", Priority.FORECASTING),
            ("d1", Priority.DISPATCH),
            ("safety", Priority.SAFETY),
            ("d2", Priority.DISPATCH),
        ]:
            runner.submit(job(name, p))
        while runner.pending():  # no retries here: every run_once runs one job
            await runner.run_once()

    asyncio.run(main())
    assert ran == ["safety", "d1", "d2", "forecast", "report"]


def test_failed_job_is_retried_then_given_up_and_reported() -> None:
    attempts: list[int] = []
    dead: list[str] = []

    async def flaky() -> None:
        attempts.append(1)
        raise OSError("model server down")

    async def main() -> None:
        gave_up = asyncio.Event()

        def on_dead(job: Job, reason: str) -> None:
            dead.append(reason)
            gave_up.set()

        runner = JobRunner(FixedClock(T0), rng=random.Random(1), on_dead=on_dead)
        runner.submit(
            Job(
                name="forecast",
                priority=Priority.FORECASTING,
                run=flaky,
                retry=RetryPolicy(max_attempts=3, base_s=0.001, max_s=0.002),
                breaker="model:statsforecast",
            )
        )
        task = asyncio.create_task(runner.run())
        async with asyncio.timeout(10):
            await gave_up.wait()
        task.cancel()

    asyncio.run(main())
    assert len(attempts) == 3
    assert "3 attempts failed" in dead[0] and "model server down" in dead[0]


def test_a_job_past_its_deadline_is_not_run() -> None:
    ran: list[str] = []

    async def run() -> None:
        ran.append("x")

    async def main() -> None:
        clock = FixedClock(T0)
        runner = JobRunner(clock)
        runner.submit(
            Job(
                name="late", priority=Priority.DISPATCH, run=run, deadline=T0 - timedelta(seconds=1)
            )
        )
        outcome = await runner.run_once()
        assert outcome is not None and not outcome.ok and "deadline" in outcome.reason

    asyncio.run(main())
    assert ran == []

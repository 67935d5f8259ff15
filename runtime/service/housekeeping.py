"""Housekeeping jobs for a long-running site: retention of the event log, historian compaction.

Submitted to a ``JobRunner`` at reporting priority (they yield to safety and dispatch),
each with a deadline and retries; a job that keeps failing lands in the dead-letter store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from runtime.core.clock import Clock
from runtime.ingest.historian import Historian
from runtime.log.deadletter import DeadLetterStore
from runtime.log.eventlog import EventLog
from runtime.service.jobs import Job, JobRunner, Priority, RetryPolicy


def retention_job(log: EventLog, clock: Clock, keep: timedelta) -> Job:
    async def run() -> None:
        now = clock()
        await asyncio.to_thread(log.compact, before=now - keep, ts=now)

    return Job(
        name="eventlog.retention",
        priority=Priority.REPORTING,
        run=run,
        deadline=clock() + timedelta(minutes=10),
        retry=RetryPolicy(max_attempts=3, base_s=5.0),
    )


def historian_compaction_job(historian: Historian, clock: Clock) -> Job:
    async def run() -> None:
        yesterday = (clock() - timedelta(days=1)).date()
        await asyncio.to_thread(historian.compact_day, yesterday)

    return Job(
        name="historian.compact_day",
        priority=Priority.REPORTING,
        run=run,
        deadline=clock() + timedelta(minutes=30),
        retry=RetryPolicy(max_attempts=3, base_s=5.0),
    )


def housekeeping_service(
    log: EventLog,
    historian: Historian | None,
    dlq: DeadLetterStore,
    clock: Clock,
    *,
    keep_telemetry: timedelta,
    every: timedelta = timedelta(hours=6),
) -> Callable[[Callable[[], None]], Awaitable[None]]:
    """A supervised service: submit the jobs every ``every`` and serve them."""

    def dead(job: Job, reason: str) -> None:
        dlq.put("job", job.name, reason, job.name.encode(), clock())

    async def serve(ready: Callable[[], None]) -> None:
        runner = JobRunner(clock, on_dead=dead)
        ready()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(runner.run())
            while True:
                runner.submit(retention_job(log, clock, keep_telemetry))
                if historian is not None:
                    runner.submit(historian_compaction_job(historian, clock))
                await asyncio.sleep(every.total_seconds())

    return serve

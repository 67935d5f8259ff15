from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runtime.core.clock import FixedClock
from runtime.ingest.historian import Historian
from runtime.log.eventlog import EventLog, Pending
from runtime.service.housekeeping import historian_compaction_job, retention_job
from runtime.service.jobs import JobRunner

NOW = datetime(2026, 8, 20, 12, 0, tzinfo=UTC)


def test_retention_and_historian_compaction_run_as_jobs(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "e.db")
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=1)
    log.append_many(
        [Pending("telemetry.sample", {"point": "p", "value": 1.0}, t) for t in (old, recent)]
    )
    h = Historian(tmp_path / "hist", batch_rows=1)
    for i in range(3):
        h.add("p", recent + timedelta(seconds=i), float(i))  # three part files
    clock = FixedClock(NOW)

    async def main() -> None:
        runner = JobRunner(clock)
        runner.submit(retention_job(log, clock, timedelta(days=30)))
        runner.submit(historian_compaction_job(h, clock))
        while runner.pending():
            await runner.run_once()

    asyncio.run(main())
    first, second, marker = log.events()
    assert first.compacted and not second.compacted and marker.kind == "log.compacted"
    assert log.verify() is None
    folder = tmp_path / "hist" / f"day={recent.date().isoformat()}"
    assert len(list(folder.glob("*.parquet"))) == 1
    assert h.read(point="p").height == 3

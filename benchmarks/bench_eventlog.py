"""Event log benchmarks, each next to raw SQLite writing the same rows in the same run.

- batched append of hash-chained, validated events (target >= 50,000 events/s)
- fsync'd control events with group commit (target >= 500 events/s)
- restart to ready (open + projections from snapshot) with 1,000,000 events (target <= 2 s)
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runtime.log import events as ev
from runtime.log.dispatch import Projections
from runtime.log.eventlog import EventLog, GroupCommitter, Pending

T0 = datetime(2026, 7, 15, 17, 0, tzinfo=UTC)
BATCH = 1000


def _telemetry(n: int, offset: int = 0) -> list[Pending]:
    return [
        Pending(
            "telemetry.sample",
            {"point": f"p{i % 50}.p_kw", "value": float(i), "quality": "good"},
            T0 + timedelta(milliseconds=offset + i),
        )
        for i in range(n)
    ]


def _raw_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, ts TEXT, kind TEXT, dispatch_id TEXT,"
        " payload TEXT)"
    )
    return db


def _row(name: str, value: float, unit: str, baseline: float, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "value": round(value, 3),
        "unit": unit,
        "baseline": round(baseline, 3),
        "ratio": round(value / baseline, 3) if baseline else None,
        **extra,
    }


def bench_batch_append(tmp: Path, n: int = 100_000) -> dict[str, Any]:
    items = _telemetry(n)
    log = EventLog(tmp / "batch.db")
    t, cpu = time.perf_counter(), time.process_time()
    for i in range(0, n, BATCH):
        log.append_many(items[i : i + BATCH], returning=False)
    ours = n / (time.perf_counter() - t)
    ours_cpu = n / (time.process_time() - cpu)
    assert log.verify() is None
    log.close()
    raw = _raw_db(tmp / "batch-raw.db")
    rows = [(p.ts.isoformat(), p.kind, None, json.dumps(p.payload)) for p in items]
    t = time.perf_counter()
    for i in range(0, n, BATCH):
        raw.execute("BEGIN")
        raw.executemany(
            "INSERT INTO events (ts, kind, dispatch_id, payload) VALUES (?,?,?,?)",
            rows[i : i + BATCH],
        )
        raw.execute("COMMIT")
    baseline = n / (time.perf_counter() - t)
    return _row(
        "eventlog.batch_append",
        ours,
        "events/s",
        baseline,
        batch=BATCH,
        target=">= 50000",
        cpu_bound_rate=round(ours_cpu),
        load_average=round(os.getloadavg()[0], 2),
        note="baseline: raw SQLite executemany of the same rows, no validation or hashing; "
        "cpu_bound_rate = events per second of this process's CPU time (a shared box)",
    )


def bench_control_events(tmp: Path, n: int = 2000, producers: int = 100) -> list[dict[str, Any]]:
    log = EventLog(tmp / "control.db")
    committer = GroupCommitter(log)

    async def producer(k: int) -> None:
        for i in range(k, n, producers):
            await committer.append(
                "dispatch.verified", {"value": float(i)}, ts=T0, dispatch_id=f"d{i}"
            )

    async def main() -> None:
        await asyncio.gather(*(producer(k) for k in range(producers)))

    t = time.perf_counter()
    asyncio.run(main())
    grouped = n / (time.perf_counter() - t)
    batches = committer.batches
    single_n = 300
    t = time.perf_counter()
    for i in range(single_n):
        log.append("dispatch.verified", {"value": float(i)}, ts=T0, dispatch_id=f"s{i}")
    single = single_n / (time.perf_counter() - t)
    assert log.verify() is None
    log.close()
    raw = _raw_db(tmp / "control-raw.db")
    t = time.perf_counter()
    for i in range(single_n):
        raw.execute(
            "INSERT INTO events (ts, kind, dispatch_id, payload) VALUES (?,?,?,?)",
            (T0.isoformat(), "dispatch.verified", f"s{i}", json.dumps({"value": float(i)})),
        )
    baseline = single_n / (time.perf_counter() - t)
    return [
        _row(
            "eventlog.control_group_commit",
            grouped,
            "events/s",
            baseline,
            producers=producers,
            transactions=batches,
            target=">= 500",
            note="baseline: raw SQLite, one fsync'd INSERT per event (autocommit, FULL)",
        ),
        _row(
            "eventlog.control_single_fsync",
            single,
            "events/s",
            baseline,
            note="one transaction and fsync per event, no group commit",
        ),
    ]


def bench_restart(tmp: Path, n: int = 1_000_000) -> list[dict[str, Any]]:
    path = tmp / "big.db"
    log = EventLog(path)
    cmd = ev.CommandBody(
        key="k",
        asset="bat1",
        kind="active_power_kw",
        value=50.0,
        start=T0,
        end=T0 + timedelta(minutes=15),
        origin="agent",
    )
    chain: list[tuple[str, dict[str, Any]]] = [
        ev.dump(e)
        for e in (
            ev.DispatchProposed(
                command=cmd,
                policy="p",
                rationale="r",
                snapshot={},
                rollback_kw=0.0,
                last_setpoint_kw=0.0,
            ),
            ev.DispatchGated(outcome="accepted", value=50.0, constraints=[]),
            ev.DispatchSimulated(
                ok=True,
                summary="",
                violations=[],
                steps=3,
                step_s=300,
                peak_kw_plan=0,
                peak_kw_baseline=0,
                energy_shifted_kwh=0,
            ),
            ev.ApprovalAuto(requirement="auto", reason="small"),
            ev.DispatchApproved(command=cmd, value=50.0, source="field", rollback_kw=0.0),
            ev.DispatchSent(value=50.0, source="field", rollback_kw=0.0, attempt=1),
            ev.DispatchAcked(applied_key="k", readback_kw=50.0),
            ev.DispatchVerified(value=50.0),
        )
    ]
    t_build = time.perf_counter()
    written = 0
    d = 0
    per_batch = 20  # dispatches per 1,000 events: 16% of the log are dispatch events
    while written < n:
        batch = _telemetry(BATCH - per_batch * len(chain), offset=written)
        for _ in range(per_batch):
            batch += [Pending(k, p, T0, f"d{d}") for k, p in chain]
            d += 1
        log.append_many(batch, validate=False, durable=False, returning=False)
        written += len(batch)
    build_s = time.perf_counter() - t_build
    Projections.load(log).save(log)
    tail = []  # a conductor snapshots every 2,000 events: restart replays at most that
    for _ in range(2000 // len(chain)):
        tail += [Pending(k, p, T0, f"d{d}") for k, p in chain]
        d += 1
    log.append_many(tail, validate=False)
    written += len(tail)
    log.close()

    t = time.perf_counter()
    log = EventLog(path)
    proj = Projections.load(log)
    ready_s = time.perf_counter() - t
    assert proj.seq == written and proj.setpoints == {"bat1": 50.0}
    with sqlite3.connect(path) as raw:
        raw.execute("DELETE FROM snapshots")
    t = time.perf_counter()
    log2 = EventLog(path)
    full = Projections.load(log2)
    rebuild_s = time.perf_counter() - t
    assert full.seq == written
    log.close()
    log2.close()
    return [
        _row(
            "eventlog.restart_to_ready",
            ready_s,
            "s",
            rebuild_s,
            events=written,
            dispatches=d,
            target="<= 2",
            note="open + projections from snapshot + a 2,000-event tail; baseline: full "
            "rebuild of the projections from every dispatch event (no snapshot)",
        ),
        _row(
            "eventlog.build_1m",
            written / build_s,
            "events/s",
            0.0,
            note="building the 1M-event log (batched, durable=False)",
        ),
    ]


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-eventlog-") as d:
        tmp = Path(d)
        return [bench_batch_append(tmp), *bench_control_events(tmp), *bench_restart(tmp)]


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))

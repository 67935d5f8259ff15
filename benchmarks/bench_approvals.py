"""Approval book reads on a busy log, next to a raw SQLite query over the same rows.

A log of 100,000 telemetry events and 2,000 approval requests (each proposed, gated,
simulated, requested; then granted and sent, rejected, expired or left pending).
``approvals.metrics`` and ``approvals.pending`` (what the console polls) are timed
against the least any implementation must do: one indexed SQLite query selecting
the approval rows by kind (no parsing, no folding). ``approvals.detail`` of one
request is timed against reading that dispatch's rows raw.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.util import row
from runtime import approvals
from runtime import events as ev
from runtime.eventlog import EventLog, Pending

T0 = datetime(2026, 7, 15, 17, 0, tzinfo=UTC)
REQUESTS = 2000
TELEMETRY = 100_000
KINDS = (
    approvals.REQUESTED,
    approvals.GRANTED,
    approvals.ESCALATED,
    approvals.AUTO,
    *approvals.TERMINAL,
)


def _dump(event: Any) -> tuple[str, dict[str, Any]]:
    return ev.dump(event)


def _request(i: int, at: datetime) -> list[Pending]:
    did = f"d{i}"
    body = ev.CommandBody(
        key=did,
        asset="bat1",
        kind="active_power_kw",
        value=150.0,
        start=at,
        end=at + timedelta(minutes=15),
        origin="agent",
    )
    plan = [body.model_dump(mode="json")]
    events: list[Any] = [
        ev.DispatchProposed(
            command=body,
            policy="peak_shaving",
            rationale="r",
            snapshot={},
            rollback_kw=0.0,
            last_setpoint_kw=0.0,
        ),
        ev.DispatchGated(outcome="accepted", value=150.0, constraints=[]),
        ev.DispatchSimulated(
            ok=True,
            summary="ok",
            violations=[],
            steps=3,
            step_s=300,
            peak_kw_plan=1,
            peak_kw_baseline=2,
            energy_shifted_kwh=3,
        ),
        ev.ApprovalRequested(
            requirement="one_operator",
            expires_at=at + timedelta(minutes=15),
            asset="bat1",
            value=150.0,
            rationale="r",
            simulation="ok",
            commands=[body],
            plan_hash=approvals.plan_hash(plan),
            proposed_by="policy:peak_shaving",
        ),
    ]
    match i % 4:
        case 0:
            events += [
                ev.ApprovalGranted(user="alice", plan_hash=approvals.plan_hash(plan)),
                ev.DispatchGated(outcome="accepted", value=150.0, constraints=[], recheck=True),
                ev.DispatchApproved(command=body, value=150.0, source="field", rollback_kw=0.0),
            ]
        case 1:
            events.append(ev.ApprovalRejected(user="bob", reason="crew on site"))
        case 2:
            events += [
                ev.ApprovalEscalated(after_s=300, escalate_to=["duty engineer"], reason="r"),
                ev.ApprovalExpired(reason="r"),
            ]
    out = []
    for n, e in enumerate(events):
        kind, payload = _dump(e)
        out.append(Pending(kind, payload, at + timedelta(seconds=n * 30), did))
    return out


def _build(path: Path) -> EventLog:
    log = EventLog(path)
    per = TELEMETRY // REQUESTS
    for i in range(REQUESTS):
        at = T0 + timedelta(minutes=5 * i)
        telemetry = [
            Pending(
                "telemetry.sample",
                {"point": "substation.p_kw", "value": float(k), "quality": "good"},
                at + timedelta(milliseconds=k),
            )
            for k in range(per)
        ]
        log.append_many([*telemetry, *_request(i, at)])
    return log


def _best(fn: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.db"
        log = _build(path)
        now = T0 + timedelta(minutes=5 * REQUESTS)
        raw = sqlite3.connect(path)
        marks = ",".join("?" * len(KINDS))

        def raw_rows() -> list[Any]:
            sql = f"SELECT seq, ts, kind, dispatch_id, payload FROM events WHERE kind IN ({marks})"
            return raw.execute(sql + " ORDER BY seq", KINDS).fetchall()

        def raw_one() -> list[Any]:
            sql = "SELECT seq, ts, kind, payload FROM events WHERE dispatch_id = ? ORDER BY seq"
            return raw.execute(sql, ("d1001",)).fetchall()

        m = approvals.metrics(log, now)
        assert m.requested == REQUESTS and m.pending == REQUESTS // 4, m
        assert len(approvals.pending(log)) == REQUESTS // 4
        t_raw = _best(raw_rows)
        t_metrics = _best(lambda: approvals.metrics(log, now))
        t_pending = _best(lambda: approvals.pending(log))
        t_raw_one = _best(raw_one, repeat=20)
        t_detail = _best(lambda: approvals.detail(log, "d1001"), repeat=20)
        raw.close()
        log.close()
    size = {"requests": REQUESTS, "events": TELEMETRY + REQUESTS * 6}
    return [
        row(
            "approvals.metrics", t_metrics * 1e3, "ms", t_raw * 1e3, higher_is_better=False, **size
        ),
        row(
            "approvals.pending", t_pending * 1e3, "ms", t_raw * 1e3, higher_is_better=False, **size
        ),
        row("approvals.detail", t_detail * 1e3, "ms", t_raw_one * 1e3, higher_is_better=False),
    ]


if __name__ == "__main__":
    import json

    for r in run():
        print(json.dumps(r))

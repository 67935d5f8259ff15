"""Approval book reads on a busy log, next to a raw SQLite query over the same rows.

A log of 100,000 telemetry events and 2,000 approval requests (each proposed, gated,
simulated, requested; then granted and sent, rejected, expired or left pending).
``approvals.metrics`` and ``approvals.pending`` (what the console polls) are timed
against the least any implementation must do: one indexed SQLite query selecting
the approval rows by kind (no parsing, no folding). ``approvals.detail`` of one
request is timed against reading that dispatch's rows raw.

``approvals.projection.*``: what the API serves from (``runtime.approvals.projection``),
a read after each new request is appended (its whole chain and 50 telemetry events), vs
the full fold (``approvals.pending`` / ``approvals.metrics``) on the same log in this
process; ``approvals.projection.cold``: its first read (a restart) vs the full folds.
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
from runtime.approvals import book as approvals
from runtime.approvals.projection import ApprovalProjection
from runtime.log import events as ev
from runtime.log.eventlog import EventLog, Pending

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


def _batch(i: int, per: int) -> list[Pending]:
    """Request ``i`` after ``per`` telemetry events."""
    at = T0 + timedelta(minutes=5 * i)
    telemetry = [
        Pending(
            "telemetry.sample",
            {"point": "substation.p_kw", "value": float(k), "quality": "good"},
            at + timedelta(milliseconds=k),
        )
        for k in range(per)
    ]
    return [*telemetry, *_request(i, at)]


def _build(path: Path) -> EventLog:
    log = EventLog(path)
    for i in range(REQUESTS):
        log.append_many(_batch(i, TELEMETRY // REQUESTS))
    return log


def _projection_rows(log: EventLog, now: datetime) -> list[dict[str, Any]]:
    """The projection's reads after each append, against the full folds of the same log."""
    projection = ApprovalProjection(log)
    t = time.perf_counter()
    projection.pending()
    t_cold = time.perf_counter() - t
    t_full = _best(lambda: (approvals.pending(log), approvals.metrics(log, now)), repeat=3)
    times: dict[str, list[float]] = {"pending": [], "metrics": [], "fold_p": [], "fold_m": []}
    reads = {"pending": projection.pending, "metrics": lambda: projection.metrics(now)}
    folds: dict[str, Callable[[], object]] = {
        "fold_p": lambda: approvals.pending(log),
        "fold_m": lambda: approvals.metrics(log, now),
    }
    for i in range(REQUESTS, REQUESTS + 40):
        log.append_many(_batch(i, TELEMETRY // REQUESTS))  # not timed
        name = "pending" if i % 2 == 0 else "metrics"  # each read folds one new request
        t = time.perf_counter()
        reads[name]()
        times[name].append(time.perf_counter() - t)
        if i % 10 < 2:  # the full folds are slow: a few samples, interleaved
            fold = "fold_p" if name == "pending" else "fold_m"
            times[fold].append(_best(folds[fold], repeat=1))
    assert projection.pending() == approvals.pending(log)
    assert projection.metrics(now) == approvals.metrics(log, now)
    size = {"requests": REQUESTS + 40, "new_events_per_read": TELEMETRY // REQUESTS + 7}
    return [
        row(
            f"approvals.projection.{name}",
            min(times[name]) * 1e3,
            "ms",
            min(times[fold]) * 1e3,
            higher_is_better=False,
            **size,
        )
        for name, fold in (("pending", "fold_p"), ("metrics", "fold_m"))
    ] + [
        row(
            "approvals.projection.cold",
            t_cold * 1e3,
            "ms",
            t_full * 1e3,
            higher_is_better=False,
            requests=REQUESTS,
        )
    ]


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
        projected = _projection_rows(log, now)
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
        *projected,
    ]


if __name__ == "__main__":
    import json

    for r in run():
        print(json.dumps(r))

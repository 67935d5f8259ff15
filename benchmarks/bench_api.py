"""HTTP API: GET /api/approvals and GET /metrics against the full fold of the log.

Rows (baseline measured in the same run, calls interleaved so both see the same load),
at 500 and 5,000 dispatches (decided ones with their whole chain) and 10 pending requests,
served by ``gridaios serve`` (its own process, as deployed) on 127.0.0.1 (bearer token,
keep-alive connection):
- ``api_approvals_p50`` / ``_p99``: one GET /api/approvals, vs a direct full fold
  ``approvals.pending(log)`` in this process on the same log (what every request cost
  before the API kept an incremental projection);
- ``api_metrics_p50`` / ``_p99``: one GET /metrics (approval figures and dispatch counts), vs
  a direct full fold ``approvals.metrics(log, now)``.
Rows at 5,000 dispatches carry the suffix ``_5000``.

Run: ``python -m benchmarks.bench_api`` (or through the benchmark harness).
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.util import percentile, row
from runtime.approvals import book as approvals
from runtime.log.eventlog import EventLog, Pending
from tests.api.support import add_users

SIZES = ((500, 100), (5000, 30))  # (dispatches, calls per endpoint)
N_PENDING = 10
# row name, served timings, full-fold timings
PAIRS = (("approvals", "api", "pending"), ("metrics", "metrics", "fold"))
T0 = datetime(2026, 7, 15, 15, 30, tzinfo=UTC)


def _chain(i: int) -> list[Pending]:
    ts = T0 + timedelta(minutes=i)
    did = f"site-bat1-{i:06d}"
    command = {
        "key": did,
        "asset": "bat1",
        "kind": "active_power_kw",
        "value": 150.0,
        "start": ts.isoformat(),
        "end": (ts + timedelta(minutes=15)).isoformat(),
        "origin": "agent",
    }
    reading = {"value": 1250.0, "ts": ts.isoformat(), "quality": "good"}
    out = [
        Pending(
            "dispatch.proposed",
            {
                "command": command,
                "policy": "peak_shaving",
                "rationale": "feeder above threshold",
                "snapshot": {"substation.p_kw": reading},
                "rollback_kw": 0.0,
                "last_setpoint_kw": 0.0,
            },
            ts,
            did,
        ),
        Pending(
            "dispatch.gated", {"outcome": "accepted", "value": 150.0, "constraints": []}, ts, did
        ),
        Pending(
            "dispatch.simulated",
            {
                "ok": True,
                "summary": "no violations",
                "violations": [],
                "steps": 90,
                "step_s": 10.0,
                "peak_kw_plan": 1100.0,
                "peak_kw_baseline": 1250.0,
                "energy_shifted_kwh": 37.5,
            },
            ts,
            did,
        ),
        Pending(
            "approval.requested",
            {
                "requirement": "one_operator",
                "expires_at": (ts + timedelta(days=30)).isoformat(),
                "asset": "bat1",
                "value": 150.0,
                "rationale": "feeder above threshold",
                "simulation": "no violations",
            },
            ts,
            did,
        ),
    ]
    if i >= N_PENDING:  # decided: granted, sent, verified
        out += [
            Pending("approval.granted", {"user": "alice", "reason": "ok"}, ts, did),
            Pending(
                "dispatch.approved",
                {"command": command, "value": 150.0, "source": "field", "rollback_kw": 0.0},
                ts,
                did,
            ),
            Pending(
                "dispatch.sent",
                {"value": 150.0, "source": "field", "rollback_kw": 0.0, "attempt": 1},
                ts,
                did,
            ),
            Pending("dispatch.acked", {"applied_key": did, "readback_kw": 150.0}, ts, did),
            Pending("dispatch.verified", {"value": 150.0}, ts, did),
        ]
    return out


def _timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _measure(n_dispatches: int, n_calls: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-api-") as d:
        tmp = Path(d)
        log = EventLog(tmp / "events.db")
        log.append_many([p for i in range(n_dispatches) for p in _chain(i)])
        tokens = add_users(tmp / "users.db")
        now = datetime.now(UTC)
        assert len(approvals.pending(log)) == N_PENDING
        server = subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "serve", "--db", str(tmp / "events.db"),
             "--users", str(tmp / "users.db"), "--api", "127.0.0.1:0"],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert server.stderr is not None
            line = server.stderr.readline()
            m = re.search(r"api listening on (http://[\d.]+:\d+)", line)
            if m is None:
                raise RuntimeError(f"gridaios serve did not start: {line}")
            url = urlsplit(m.group(1))
            conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
            headers = {"Authorization": f"Bearer {tokens['viewer']}"}

            def get(path: str) -> bytes:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"GET {path}: {resp.status} {body[:200]!r}")
                return body

            def get_approvals() -> None:
                if len(json.loads(get("/api/approvals"))) != N_PENDING:
                    raise RuntimeError("GET /api/approvals: not the pending requests")

            def get_metrics() -> None:
                if b"gridaios_approvals_pending %d.0" % N_PENDING not in get("/metrics"):
                    raise RuntimeError("GET /metrics: no gridaios_approvals_pending figure")

            get_approvals()  # warm-up
            get_metrics()
            times: dict[str, list[float]] = {k: [] for k in ("pending", "api", "fold", "metrics")}
            for _ in range(n_calls):
                times["pending"].append(_timed(lambda: approvals.pending(log)))
                times["api"].append(_timed(get_approvals))
                times["fold"].append(_timed(lambda: approvals.metrics(log, now)))
                times["metrics"].append(_timed(get_metrics))
            conn.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
        log.close()
    extra = {"dispatches": n_dispatches, "pending": N_PENDING, "calls": n_calls}
    suffix = "" if n_dispatches == SIZES[0][0] else f"_{n_dispatches}"
    return [
        row(
            f"api_{name}_p{q}{suffix}",
            percentile(times[served], q) * 1000,
            "ms",
            percentile(times[direct], q) * 1000,
            higher_is_better=False,
            **extra,
        )
        for name, served, direct in PAIRS
        for q in (50, 99)
    ]


def run() -> list[dict[str, Any]]:
    return [r for n_dispatches, n_calls in SIZES for r in _measure(n_dispatches, n_calls)]


if __name__ == "__main__":
    for r in run():
        print(json.dumps(r))

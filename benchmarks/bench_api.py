"""HTTP API: GET /api/approvals latency against the direct call it wraps.

Rows (baseline measured in the same run):
- ``api_approvals_p50`` / ``api_approvals_p99``: one GET /api/approvals (bearer token,
  keep-alive connection) through ``gridaios serve`` (its own process, as deployed) on
  127.0.0.1, vs a direct
  ``approvals.pending(log)`` call in the same process, on the same log (calls interleaved): 500
  dispatches (decided ones with their whole chain) and 10 pending requests.

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
from runtime import approvals
from runtime.eventlog import EventLog, Pending
from tests.api.support import add_users

N_DISPATCHES = 500
N_PENDING = 10
N_CALLS = 100
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


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-api-") as d:
        tmp = Path(d)
        log = EventLog(tmp / "events.db")
        log.append_many([p for i in range(N_DISPATCHES) for p in _chain(i)])
        tokens = add_users(tmp / "users.db")
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

            def get() -> None:
                conn.request("GET", "/api/approvals", headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200 or len(json.loads(body)) != N_PENDING:
                    raise RuntimeError(f"GET /api/approvals: {resp.status} {body[:200]!r}")

            get()  # warm-up
            direct: list[float] = []
            over_http: list[float] = []
            for _ in range(N_CALLS):  # interleaved: both see the same machine load
                direct.append(_timed(lambda: approvals.pending(log)))
                over_http.append(_timed(get))
            conn.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
        log.close()
    extra = {"dispatches": N_DISPATCHES, "pending": N_PENDING, "calls": N_CALLS}
    return [
        row(
            f"api_approvals_p{q}",
            percentile(over_http, q) * 1000,
            "ms",
            percentile(direct, q) * 1000,
            higher_is_better=False,
            **extra,
        )
        for q in (50, 99)
    ]


if __name__ == "__main__":
    for r in run():
        print(json.dumps(r))

"""Benchmarks of the guarantees' costs (issue 16).

- ``guard.gate_plan_1000x100_plausible_cpu_p50``: the safety gate on the 1,000-command,
  100-asset plan of ``bench_safety`` with a plausibility range for every point it reads
  (SoC 0-100 %, power within the rating x 1.5, voltage 0-2 pu); baseline: the same plan,
  same run, with no ranges (the path before plausibility checks). Target: <= 10 % more.
  The lead-time and key-length checks are two comparisons on the common path and are in
  both figures.
- ``guard.api_body_cap_peak_rss_mb``: ``gridaios serve`` on a free port; three concurrent
  300 MB POSTs (anonymous with a Content-Length, anonymous chunked, logged-in chunked);
  the server's peak RSS (``VmHWM`` after resetting it) against its idle RSS, same run.
  Target: within 50 MB of idle. ``health_slowest_s``: the slowest ``/api/health`` answer
  while the posts run.

Run: ``python -m benchmarks --only guard``.
"""

from __future__ import annotations

import gc
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.bench_safety import T0, _plan, _site
from benchmarks.util import percentile, row
from safety import evaluate

REPO = Path(__file__).resolve().parents[1]
MB = 1 << 20


def _plausible_ranges(points: list[str]) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for p in points:
        if p.endswith(("soc_pct", "curtail_pct")):
            out[p] = (0.0, 100.0)
        elif p.endswith("_pu"):
            out[p] = (0.0, 2.0)
        elif p.endswith("p_kw"):
            out[p] = (-30000.0, 30000.0)
    return out


def _cpu_ms(fn: Any, runs: int) -> list[float]:
    out = []
    gc.disable()
    try:
        for _ in range(runs):
            t0 = time.process_time_ns()
            fn()
            out.append((time.process_time_ns() - t0) / 1e6)
    finally:
        gc.enable()
    return out


def gate_rows() -> list[dict[str, Any]]:
    envelope, state = _site(100)
    plan = _plan(envelope, 10)
    guarded = replace(envelope, plausible=_plausible_ranges(list(state.readings)))
    assert len(guarded.plausible) >= 200
    same = [v.outcome for v in evaluate(plan, state, envelope, T0)]
    assert [v.outcome for v in evaluate(plan, state, guarded, T0)] == same
    base: list[float] = []
    new: list[float] = []
    for _ in range(8):  # interleaved, so load on the box hits both alike
        base += _cpu_ms(lambda: evaluate(plan, state, envelope, T0), 10)
        new += _cpu_ms(lambda: evaluate(plan, state, guarded, T0), 10)
    b50, n50 = percentile(base, 50), percentile(new, 50)
    growth = (n50 / b50 - 1.0) * 100.0
    return [
        row(
            "guard.gate_plan_1000x100_plausible_cpu_p50",
            n50,
            "ms",
            b50,
            higher_is_better=False,
            baseline_is="the same plan and state, same run, without plausibility ranges",
            growth_pct=round(growth, 2),
            target_growth_pct=10.0,
            meets_target=growth <= 10.0,
            ranges=len(guarded.plausible),
            samples=len(new),
        )
    ]


def _env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "firmware-bridge")])
    return e


def _kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def _post(url: str, path: str, size: int, chunked: bool, token: str | None) -> int:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
    head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", "Content-Type: application/json"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    block = b"[" + b"1," * (MB // 2 - 1) + b"1"
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sent = 0
        while sent < size:
            sock.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block)
            sent += len(block)
    except OSError:
        pass
    try:
        reply = sock.recv(4096).decode(errors="replace")
        return int(reply.split()[1]) if reply.startswith("HTTP/") else 0
    except (OSError, IndexError, ValueError):
        return 0
    finally:
        sock.close()


def _get(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as r:
        r.read()
    return time.perf_counter() - t0


def api_rows() -> list[dict[str, Any]]:
    cli = [sys.executable, "-m", "runtime.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        db, users = Path(tmp) / "events.db", Path(tmp) / "users.db"
        common = ["--users", str(users), "--db", str(db)]
        subprocess.run([*cli, "users", "add", "op1", "--role", "operator", "--password-stdin",
                        *common], input="correct horse battery\n", text=True, check=True,
                       capture_output=True, env=_env())  # fmt: skip
        token = subprocess.run([*cli, "users", "token", "op1", *common], text=True, check=True,
                               capture_output=True, env=_env()).stdout.strip()  # fmt: skip
        err_path = Path(tmp) / "serve.err"
        with err_path.open("wb") as err:
            proc = subprocess.Popen([*cli, "serve", *common, "--api", "127.0.0.1:0"],
                                    stdout=subprocess.DEVNULL, stderr=err, env=_env())  # fmt: skip
        try:
            url = None
            for _ in range(1200):
                m = re.search(r"api listening on (http://[\d.:]+)", err_path.read_text())
                if m:
                    url = m.group(1)
                    break
                time.sleep(0.05)
            assert url is not None, err_path.read_text()
            for _ in range(20):
                _get(f"{url}/api/health")
            time.sleep(0.5)
            idle = _kb(proc.pid, "VmRSS")
            Path(f"/proc/{proc.pid}/clear_refs").write_text("5")
            cases = [
                ("/api/approvals/x/approve", False, None),
                ("/api/approvals/x/approve", True, None),
                ("/api/dr/events", True, token),
            ]
            statuses: list[int] = []
            threads = [
                threading.Thread(
                    target=lambda p=p, c=c, t=t: statuses.append(_post(url, p, 300 * MB, c, t))
                )
                for p, c, t in cases
            ]
            for t in threads:
                t.start()
            slowest = 0.0
            while any(t.is_alive() for t in threads):
                slowest = max(slowest, _get(f"{url}/api/health"))
                time.sleep(0.05)
            peak = _kb(proc.pid, "VmHWM")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    grew = (peak - idle) / 1024
    return [
        row(
            "guard.api_body_cap_peak_rss_mb",
            peak / 1024,
            "MB",
            idle / 1024,
            higher_is_better=False,
            baseline_is="the same server's idle RSS, same run",
            growth_mb=round(grew, 1),
            target_growth_mb=50.0,
            meets_target=grew <= 50.0,
            health_slowest_s=round(slowest, 3),
            statuses=sorted(statuses),
            posts="3 concurrent x 300 MB: anonymous+length, anonymous chunked, logged-in chunked",
        )
    ]


def run() -> list[dict[str, Any]]:
    return gate_rows() + api_rows()


if __name__ == "__main__":
    for result in run():
        print(json.dumps(result))

"""Footprint of `gridaios run` on the demo feeder, each figure next to a same-run baseline process.

- ``footprint.help_s``: ``gridaios --help`` wall time vs ``python -c pass`` (target <= 0.4 s).
- ``footprint.first_ingest_s``: spawn of ``gridaios run`` to ``READY=1`` on its notify socket
  (sent after ``Conductor.connect``, which waits until every required point has been ingested)
  vs a bare asyncua client process that connects to the same field and reads one value
  (target <= 2 s).
- ``footprint.run_rss_mb``: steady resident memory of ``gridaios run`` vs a Python process
  that only imports asyncua (target <= 120 MB).
- ``footprint.run_cpu_pct``: CPU % of one core over a window vs the ``sim field`` process
  serving the same points in the same window (target <= 5 %).

The field is ``gridaios sim field`` on the demo site (a real OPC UA server, another
process). Linux only: RSS and CPU time come from /proc.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.util import row, size
from tests.packaging.procs import init_site, process

GRIDAIOS = str(Path(sys.executable).parent / "gridaios")
REPEAT = size(5, 2)
SETTLE_S = size(20.0, 3.0)  # after READY, before measuring steady state
WINDOW_S = size(30.0, 3.0)
TICKS = os.sysconf("SC_CLK_TCK")
BARE_CLIENT = """
import asyncio, sys
from asyncua import Client
async def main():
    async with Client(sys.argv[1]) as c:
        await c.get_node("ns=2;s=bat1.soc_pct").read_value()
asyncio.run(main())
"""


def _wall_s(argv: list[str]) -> float:
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True, timeout=60)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _endpoint(site: Path) -> str:
    for line in site.read_text().splitlines():
        if "endpoint: opc.tcp://" in line:
            return line.split("endpoint:", 1)[1].split("#")[0].strip()
    raise RuntimeError(f"{site}: no OPC UA endpoint")


def run() -> list[dict[str, Any]]:
    help_s = _wall_s([GRIDAIOS, "--help"])
    pass_s = _wall_s([sys.executable, "-c", "pass"])
    rows = [
        row(
            "footprint.help_s",
            help_s,
            "s",
            pass_s,
            higher_is_better=False,
            baseline_name="python -c pass",
            target="<= 0.4",
            meets_target=help_s <= 0.4,
        )
    ]
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as d:
        tmp = Path(d)
        site = init_site(GRIDAIOS, tmp / "etc")
        name = f"@gridaios-bench-{uuid.uuid4().hex[:12]}"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind("\0" + name[1:])
        notify.settimeout(120)
        with process(
            [GRIDAIOS, "sim", "field", "--config", str(site)],
            tmp,
            "field",
            ready_text="virtual field:",
        ) as field:
            t0 = time.perf_counter()
            bare = subprocess.run(
                [sys.executable, "-c", BARE_CLIENT, _endpoint(site)],
                capture_output=True,
                timeout=60,
                check=False,
            )
            bare_s = time.perf_counter() - t0
            if bare.returncode != 0:
                raise RuntimeError(f"bare asyncua client failed: {bare.stderr.decode()[-500:]}")
            argv = [GRIDAIOS, "run", "--config", str(site), "--db", str(tmp / "events.db")]
            t0 = time.perf_counter()
            with process(argv, tmp, "run", env={**os.environ, "NOTIFY_SOCKET": name}) as conductor:
                while b"READY=1" not in notify.recv(4096):
                    pass
                ready_s = time.perf_counter() - t0
                time.sleep(SETTLE_S)
                with process(
                    [sys.executable, "-c", "import asyncua, time; time.sleep(3600)"],
                    tmp,
                    "baseline",
                ) as baseline:
                    time.sleep(2.0)  # its imports are done well within this
                    c0, f0, w0 = _cpu_s(conductor.pid), _cpu_s(field.pid), time.monotonic()
                    time.sleep(WINDOW_S)
                    c1, f1, w1 = _cpu_s(conductor.pid), _cpu_s(field.pid), time.monotonic()
                    rss, base_rss = _rss_mb(conductor.pid), _rss_mb(baseline.pid)
        notify.close()
    cpu_pct = 100 * (c1 - c0) / (w1 - w0)
    field_pct = 100 * (f1 - f0) / (w1 - w0)
    rows += [
        row(
            "footprint.first_ingest_s",
            ready_s,
            "s",
            bare_s,
            higher_is_better=False,
            baseline_name="python + asyncua: connect to the same field and read one value",
            method="spawn to READY=1 (after connect, which waits for every required point)",
            target="<= 2",
            meets_target=ready_s <= 2.0,
        ),
        row(
            "footprint.run_rss_mb",
            rss,
            "MB",
            base_rss,
            higher_is_better=False,
            baseline_name="python that only imports asyncua",
            settle_s=SETTLE_S,
            target="<= 120",
            meets_target=rss <= 120,
        ),
        row(
            "footprint.run_cpu_pct",
            cpu_pct,
            "% of a core",
            field_pct,
            higher_is_better=False,
            baseline_name="gridaios sim field serving the demo site in the same window",
            window_s=WINDOW_S,
            target="<= 5",
            meets_target=cpu_pct <= 5,
        ),
    ]
    return rows

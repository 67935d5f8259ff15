"""`gridaios demo` as a user runs it: a subprocess, real OPC UA on loopback, JSON last line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.log.eventlog import EventLog

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_demo_json_reports_a_shaved_peak_and_a_verifiable_log(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "runtime.cli",
            "demo",
            "--auto-approve",
            "--json",
            "--speed",
            "600",
            "--db",
            str(db),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in (
        "peak_kw_before",
        "peak_kw_after",
        "dispatches",
        "violations",
        "event_log",
        "dispatch_ids",
    ):
        assert key in summary
    d = summary["dispatches"]
    for key in ("proposed", "approved", "rejected", "clamped", "sent", "acked"):
        assert isinstance(d[key], int)
    assert d["proposed"] >= 3 and d["sent"] >= 3
    assert d["acked"] == d["sent"]
    assert summary["violations"] == 0
    assert summary["peak_kw_after"] < summary["peak_kw_before"] - 100
    assert summary["event_log"] == str(db)
    # Every dispatch came from the agent set; the peak agent's counters agree with the log.
    peak = summary["agents"]["by_agent"]["peak_shaving"]
    assert peak["proposals"] == d["proposed"] and peak["errors"] == 0
    # The device-side ledger agrees with the runtime: one apply per sent dispatch.
    ledger_keys = [c["key"] for c in summary["device_ledger"]]
    assert len(ledger_keys) == len(set(ledger_keys)) == d["sent"]
    assert set(ledger_keys) <= set(summary["dispatch_ids"])
    log = EventLog(db)
    try:
        assert log.verify() is None
        sent = [e.dispatch_id for e in log.events(kinds=("dispatch.sent",))]
        assert sorted(sent) == sorted(ledger_keys)
    finally:
        log.close()


def test_demo_refuses_bad_flags() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "demo", "--speed", "0"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 2
    assert "--speed = 0: must be > 0" in result.stderr


def test_benchmark_harness_lists_and_refuses_unknown() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--list"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert listed.returncode == 0 and "dispatch" in listed.stdout.split()
    bad = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "nope"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert bad.returncode == 2 and "unknown benchmark" in bad.stderr

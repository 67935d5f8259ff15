"""The README's shadow command as an operator types it (issue #19 item 2), and verdicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.shadow.verdict import overall, verdicts

ROOT = Path(__file__).resolve().parents[3]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'firmware-bridge'}")
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_readme_command_without_json_prints_table_verdict_and_report_path(tmp_path: Path) -> None:
    argv = ["shadow", "--scenario", "evening-peak", "--candidate", "low-threshold"]
    done = _run([*argv, "--report", "OUT.html"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    out = done.stdout
    assert "proposals by agent tier (production):" in out
    assert "feeder peak (kW)" in out and "verdict" in out
    assert out.splitlines()[-1] == "report: OUT.html"
    assert "candidate better on" in out
    html = (tmp_path / "OUT.html").read_text(encoding="utf-8")
    assert "<table id=verdicts>" in html and "id=forecast-tier" in html
    assert "on evening-peak" in html or "evening" in html.split("</title>")[0]
    # --json alone writes nothing under the working directory
    other = tmp_path / "json-only"
    other.mkdir()
    done = _run([*argv, "--json"], other)
    assert done.returncode == 0, done.stderr
    assert list(other.iterdir()) == []


def test_verdicts_say_which_way_and_how_much() -> None:
    prod = {"peak_kw": 1200.0, "cost": 100.0, "currency": "EUR", "violations": 0, "proposals": 3}
    cand = {"peak_kw": 1100.04, "cost": 110.0, "currency": "EUR", "violations": 0, "proposals": 5}
    items = {v.key: v for v in verdicts(prod, cand)}
    assert items["peak_kw"].verdict == "better"
    assert items["peak_kw"].sentence() == "feeder peak (kW): better by 100"
    assert items["cost"].verdict == "worse" and items["cost"].label == "energy cost (EUR)"
    assert items["violations"].verdict == "equal"
    assert items["proposals"].verdict == "different"
    assert overall(list(items.values())) == (
        "candidate better on 1 (peak_kw), worse on 1 (cost), equal on 1"
    )


@pytest.mark.slow
def test_several_seeds_report_the_spread(tmp_path: Path) -> None:
    argv = ["shadow", "--scenario", "evening-peak", "--candidate", "low-threshold", "--seeds", "2"]
    done = _run([*argv, "--report", "S.html", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["seeds"] == 2
    peak = summary["spread"]["peak_kw"]
    assert peak["production"][1] <= peak["production"][0] <= peak["production"][2]
    assert peak["production"][1] < peak["production"][2]  # the seeds differ: a real spread
    assert peak["verdict"].startswith(("better", "worse", "mixed", "equal"))
    html = (tmp_path / "S.html").read_text(encoding="utf-8")
    assert "<table id=spread>" in html and "Spread over 2 seeds" in html

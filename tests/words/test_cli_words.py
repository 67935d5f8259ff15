"""``gridaios ask`` and ``explain --text`` as real processes over a real SQLite log and files."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import polars as pl

from tests.words import fixture as F

REPO = Path(__file__).resolve().parents[2]
AT = "2026-06-15T15:10:00Z"


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "firmware-bridge")])}
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *argv],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
        env=env,
        check=False,
    )


def test_questions_and_explanations_from_the_record(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    F.build(db).close()
    # a site config with a forecast output next to it, the zone of the evaluation set
    text = (REPO / "configs" / "demo-feeder.yaml").read_text(encoding="utf-8")
    text = text.replace("timezone: UTC", "timezone: Europe/Berlin")
    text += "\nforecast:\n  history: history.parquet\n  output: forecast.parquet\n"
    config = tmp_path / "site.yaml"
    config.write_text(text, encoding="utf-8")
    (tmp_path / "networks").symlink_to(REPO / "configs" / "networks")
    pl.DataFrame({
        "unique_id": ["substation.p_kw"] * 3,
        "ds": [F.NOW + timedelta(hours=h) for h in (1, 2.5, 4)],
        "yhat": [1100.0, F.FORECAST_PEAK[0], 990.0],
    }).write_parquet(tmp_path / "forecast.parquet")  # fmt: skip
    ask = ["ask", "--config", str(config), "--db", str(db), "--at", AT, "--no-llm"]

    soc = _run(*ask, "how full is the comunity battery?")
    assert soc.returncode == 0, soc.stderr
    assert "62.4 %" in soc.stdout and "bat1.soc_pct" in soc.stdout and "14 s old" in soc.stdout
    why = _run(*ask, "why was the solar curtailed at ten to five?")
    assert F.DISPATCH_B in why.stdout and "curtail pv1 by 30 %" in why.stdout
    peak = _run(*ask, "what's tonight's peak")
    assert "1187 kW at 19:40 Europe/Berlin" in peak.stdout
    pending = _run(*ask, "anything waiting for sign-off")
    assert F.PENDING in pending.stdout and "two_operators" in pending.stdout
    said = _run("explain", F.DISPATCH_A, "--db", str(db), "--text", "--tz", "Europe/Berlin")
    assert said.returncode == 0, said.stderr
    assert said.stdout.startswith("At 16:05 Europe/Berlin peak_shaving proposed to discharge bat1")
    assert _run("explain", "nope", "--db", str(db), "--text").returncode == 1
    # the site's zone is the default: '8pm' is 20:00 in Berlin, 18:00 UTC
    cmd = _run(*ask, "discharge bat1 at 100 kW till 8pm")
    assert "until 20:00 local (Europe/Berlin), 18:00 UTC" in cmd.stdout
    bad = _run(*ask[:-2], "--at", "yesterday", "stop bat1")
    assert bad.returncode == 2 and "--at" in bad.stderr and "Traceback" not in bad.stderr

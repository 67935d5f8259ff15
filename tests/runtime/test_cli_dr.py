"""`gridaios dr report`: the worked example of docs/dr.md from an event log and a historian."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from runtime.ingest.historian import Historian
from runtime.log import events as ev
from runtime.log.eventlog import EventLog
from tests.runtime.test_dr_mv import _load
from tests.runtime.test_openadr_config import DEMO

REPO = Path(__file__).resolve().parents[2]
SECTION = """
openadr:
  vtn_url: http://127.0.0.1:8080/OpenADR2/Simple/2.0b
  ven_id: ven-demo
  ven_name: demo-feeder
  allow_insecure: true
  programs:
    - name: oadr://utility/summer-peak
      baseline: {method: high_x_of_y, x: 3, y: 5, adjust_hours: 2, interval_s: 3600}
"""


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    db, history, config = tmp_path / "events.db", tmp_path / "history", tmp_path / "site.yaml"
    network = (DEMO.parent / "networks" / "demo-feeder.yaml").resolve()
    config.write_text(DEMO.read_text().replace("networks/demo-feeder.yaml", str(network)) + SECTION)
    hist = Historian(history)
    for ts, kw in _load().items():
        for minute in (0, 30):  # two samples per hour, both at the hour's mean
            hist.add("substation.p_kw", ts.replace(minute=minute), kw)
    hist.flush()
    log = EventLog(db)
    for n, (hour, target) in enumerate(((17, 93.0), (18, 104.0))):
        body = {
            "event_id": f"ev-77.{n}",
            "target_kw": target,
            "start": datetime(2026, 7, 13, hour, tzinfo=UTC).isoformat(),
            "end": datetime(2026, 7, 13, hour + 1, tzinfo=UTC).isoformat(),
            "targets": ["*"],
            "status": "active",
        }
        log.append_event(
            ev.AgentDrEventAccepted(
                event_id=body["event_id"], event=body, via="openadr2b:oadr://utility/summer-peak"
            ),
            ts=datetime(2026, 7, 13, 12, tzinfo=UTC),
        )
    log.close()
    return db, history, config


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", "dr", "report", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_dr_report_json_and_html_match_the_worked_example(tmp_path: Path) -> None:
    db, history, config = _setup(tmp_path)
    html = tmp_path / "out" / "ev-77.html"
    done = _cli(
        "ev-77",
        "--db",
        str(db),
        "--history",
        str(history),
        "--config",
        str(config),
        "--json",
        "--html",
        str(html),
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["program"] == "oadr://utility/summer-peak"
    assert [i["baseline_kw"] for i in out["intervals"]] == [143.0, 154.0]
    assert [i["committed_kw"] for i in out["intervals"]] == [50.0, 50.0]
    assert out["delivered_kwh"] == 90.0 and out["shortfall_kwh"] == 10.0
    page = html.read_text()
    assert "<svg" in page and "<polyline" in page and "90.0 kWh" in page
    text = _cli("ev-77", "--db", str(db), "--history", str(history), "--config", str(config))
    assert "delivered 90.0 kWh" in text.stdout and "shortfall 10.0 kWh" in text.stdout


def test_unknown_event_is_a_one_line_error(tmp_path: Path) -> None:
    db, history, config = _setup(tmp_path)
    done = _cli("nope", "--db", str(db), "--history", str(history), "--config", str(config))
    assert done.returncode == 2
    assert (
        done.stderr.strip().count("\n") == 0
        and "dr event nope: not in the event log" in done.stderr
    )
    assert "Traceback" not in done.stderr


def test_dr_report_of_an_event_that_starts_off_the_interval_grid(tmp_path: Path) -> None:
    """An event at 17:10 with 15-minute M&V intervals: the report resamples the meter from
    the event's start (it failed with 'only 0 eligible days' on the epoch's grid)."""
    from datetime import timedelta

    from runtime.audit import dr_report
    from runtime.config.load import parse_config

    network = (DEMO.parent / "networks" / "demo-feeder.yaml").resolve()
    config = parse_config(
        DEMO.read_text().replace("networks/demo-feeder.yaml", str(network))
        + SECTION.replace("interval_s: 3600", "interval_s: 900").replace(
            "adjust_hours: 2", "adjust_hours: 0"
        ),
        "site.yaml",
    )
    start = datetime(2026, 7, 13, 17, 10, tzinfo=UTC)
    hist = Historian(tmp_path / "history")
    t0 = datetime(2026, 6, 25, tzinfo=UTC)
    for m in range(0, 19 * 24 * 60, 5):
        t = t0 + timedelta(minutes=m)
        hist.add("substation.p_kw", t, 80.0 if start <= t < start + timedelta(hours=1) else 100.0)
    hist.flush()
    log = EventLog(tmp_path / "events.db")
    body = {
        "event_id": "ev-off.0",
        "target_kw": 80.0,
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "targets": ["*"],
        "status": "active",
    }
    log.append_event(
        ev.AgentDrEventAccepted(
            event_id="ev-off.0", event=body, via="openadr2b:oadr://utility/summer-peak"
        ),
        ts=datetime(2026, 7, 13, 12, tzinfo=UTC),
    )
    _, result = dr_report.report(log, "ev-off", config=config, history=hist)
    assert result.intervals[0].start == start and len(result.intervals) == 4
    assert result.delivered_kwh == 20.0

"""Shadow runs on recorded telemetry: the historian's Parquet files or the event log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from runtime.cli import main
from runtime.config.model import SiteConfig
from runtime.decide.step import DecisionContext, resolve_policy
from runtime.ingest.historian import Historian
from runtime.log import events as ev
from runtime.log.eventlog import EventLog, Pending
from runtime.shadow import InputsError, from_history, parse_range, run_side
from runtime.shadow.inputs import ShadowInputs

START = datetime(2026, 7, 15, 17, 30, tzinfo=UTC)
MINUTES = 120


def recording(inputs: ShadowInputs) -> list[tuple[str, datetime, float]]:
    """Two hours of the evening peak as a site would record it, with the battery
    discharging 100 kW from 18:00 (so the meter shows the battery's effect)."""
    rows: list[tuple[str, datetime, float]] = []
    net = inputs.uncontrolled_kw()
    for minute in range(MINUTES):
        ts = START + timedelta(minutes=minute)
        i = inputs.index(ts)
        battery_kw = 100.0 if ts >= START + timedelta(minutes=30) else 0.0
        rows += [
            ("substation.p_kw", ts, float(net[i]) - battery_kw),
            ("bat1.p_kw", ts, battery_kw),
            ("bat1.soc_pct", ts, 80.0 - minute * 0.1),
            ("pv1.p_kw", ts, float(inputs.pv_kw["pv1"][i])),
            ("load1.p_kw", ts, float(inputs.load_kw["load1"][i])),
        ]
    return rows


@pytest.fixture
def historian_dir(tmp_path: Path, evening_peak: ShadowInputs) -> Path:
    root = tmp_path / "history"
    historian = Historian(root, batch_rows=100)
    for point, ts, value in recording(evening_peak):
        historian.add(point, ts, value)
    historian.close()
    return root


@pytest.fixture
def telemetry_db(tmp_path: Path, evening_peak: ShadowInputs) -> Path:
    db = tmp_path / "events.db"
    log = EventLog(db)
    items = []
    for point, ts, value in recording(evening_peak):
        _, payload = ev.dump(ev.TelemetrySample(point=point, value=value, source_ts=ts))
        items.append(Pending("telemetry.sample", payload, ts))
    log.append_many(items)
    log.close()
    return db


def test_history_removes_the_recorded_battery(
    demo_config: SiteConfig, historian_dir: Path, evening_peak: ShadowInputs
) -> None:
    inputs = from_history(
        demo_config, START, START + timedelta(minutes=MINUTES - 1), historian=historian_dir
    )
    assert inputs.n == MINUTES
    assert inputs.initial_soc_pct == {"bat1": pytest.approx(80.0)}
    expected = [
        evening_peak.uncontrolled_kw()[evening_peak.index(START + timedelta(minutes=m))]
        for m in range(MINUTES)
    ]
    np.testing.assert_allclose(inputs.uncontrolled_kw(), expected, atol=1e-6)


@pytest.mark.parametrize("source", ["historian", "db"])
def test_cli_history_production_and_candidate(
    source: str,
    historian_dir: Path,
    telemetry_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    window = f"{START.isoformat()}..{(START + timedelta(minutes=MINUTES - 1)).isoformat()}"
    where = (
        ["--historian", str(historian_dir)]
        if source == "historian"
        else ["--db", str(telemetry_db)]
    )
    results = {}
    for candidate in ("production", "low-threshold"):
        report = tmp_path / f"{source}-{candidate}.html"
        argv = ["shadow", "--history", window, "--candidate", candidate, *where]
        assert main([*argv, "--report", str(report), "--json"]) == 0
        results[candidate] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert report.is_file()
    same = results["production"]
    assert same["decisions_differ"] == 0 and same["production"] == same["candidate"]
    assert same["production"]["dispatches"] > 0  # the recorded evening is above 1,100 kW
    other = results["low-threshold"]
    assert other["decisions_differ"] > 0
    assert other["candidate"]["dispatches"] > other["production"]["dispatches"]


def test_history_window_without_data_is_refused(
    demo_config: SiteConfig, historian_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    later = START + timedelta(days=3)
    with pytest.raises(InputsError, match=r"no good substation\.p_kw samples"):
        from_history(demo_config, later, later + timedelta(hours=1), historian=historian_dir)
    with pytest.raises(InputsError, match=r"FROM\.\.TO"):
        parse_range("2026-07-15T17:00")
    with pytest.raises(InputsError, match="TO must be after FROM"):
        parse_range("2026-07-15T18:00..2026-07-15T17:00")
    code = main(
        [
            "shadow",
            "--history",
            "yesterday..today",
            "--candidate",
            "production",
            "--historian",
            str(historian_dir),
        ]
    )
    assert code == 2
    assert "--history" in capsys.readouterr().err


def test_history_seeds_the_agents_with_what_was_recorded_before(
    demo_config: SiteConfig, historian_dir: Path, evening_peak: ShadowInputs
) -> None:
    since = START + timedelta(minutes=60)  # an hour recorded before: the agents' seed
    inputs = from_history(
        demo_config, since, since + timedelta(minutes=30), historian=historian_dir
    )
    assert inputs.lead_kw is not None and len(inputs.lead_kw) == 60
    expected = [
        evening_peak.uncontrolled_kw()[evening_peak.index(START + timedelta(minutes=m))]
        for m in range(60)
    ]
    np.testing.assert_allclose(inputs.lead_kw, expected, atol=1e-6)  # battery added back
    alone = from_history(demo_config, START, since, historian=historian_dir)
    assert alone.lead_kw is None  # nothing recorded before: the forecast tier waits


def test_history_replays_the_dr_events_the_conductor_accepted(
    demo_config: SiteConfig, telemetry_db: Path
) -> None:
    window = START + timedelta(minutes=30)
    event = {
        "event_id": "dr-9",
        "target_kw": 500,
        "start": window.isoformat(),
        "end": (window + timedelta(minutes=30)).isoformat(),
        "targets": ["bat1"],
    }
    log = EventLog(telemetry_db)
    log.append_event(
        ev.AgentDrEventAccepted(event_id="dr-9", event=event, via="mqtt"),
        ts=START + timedelta(minutes=10),
    )
    log.close()
    until = START + timedelta(minutes=MINUTES - 1)
    inputs = from_history(demo_config, START, until, db=telemetry_db)
    (known,) = inputs.dr_events
    assert known.known_at == START + timedelta(minutes=10)
    ctx = DecisionContext.from_config(demo_config)
    side = run_side(demo_config, ctx, inputs, resolve_policy(demo_config, "production"))
    dr = [(at, d) for at, ds in side.decisions.items() for d in ds if d.agent == "dr_events"]
    assert dr and min(at for at, _ in dr) == window
    assert all(window <= at < window + timedelta(minutes=30) for at, _ in dr)

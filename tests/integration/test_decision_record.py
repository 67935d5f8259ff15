"""A real demo run (virtual field on OPC UA), then explain / replay / audit on its log."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from runtime.cli import main
from runtime.demo.feeder import load_demo_inputs, run_demo
from runtime.log.dispatch import Projections

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], list[str]]:
    db = tmp_path_factory.mktemp("demo") / "events.db"
    config, scenario = load_demo_inputs(None, "evening-peak")
    result = asyncio.run(
        run_demo(
            config=config,
            scenario=scenario,
            db_path=db,
            speed=1800.0,
            duration_s=None,
            auto_approve=False,
        )
    )
    assert result.dispatches["verified"] > 0
    with sqlite3.connect(db) as raw:
        verified = [
            r[0]
            for r in raw.execute(
                "SELECT dispatch_id FROM events WHERE kind = 'dispatch.verified' ORDER BY seq"
            )
        ]
    return db, verified, result.dispatch_ids


def test_explain_prints_the_whole_chain(
    demo_log: tuple[Path, list[str], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, ids, _ = demo_log
    assert main(["explain", ids[0], "--db", str(db)]) == 0
    out = capsys.readouterr().out
    for part in (
        f"dispatch {ids[0]}: verified",
        "proposed by peak_shaving",
        "telemetry snapshot the decision saw",
        "substation.p_kw",
        "models: forecast=",
        "gate: accepted",
        "  history: ",  # the gate's inputs (dispatch.gated v2), one line each
        "  forecast: ",
        "simulation: ok",
        "approved automatically",
        "outbox:",
        "sent: attempt 1",
        "acked: device applied key",
        "verified: the device runs",
    ):
        assert part in out, part


def test_explain_unknown_dispatch_fails_with_a_hint(
    demo_log: tuple[Path, list[str], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, _, _ = demo_log
    assert main(["explain", "nope", "--db", str(db)]) == 1
    assert "audit show" in capsys.readouterr().err


def test_replay_with_the_recorded_config_finds_no_difference(
    demo_log: tuple[Path, list[str], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, _, ids = demo_log
    code = main(
        ["replay", "--from", "2026-07-15T15:00", "--to", "2026-07-15T21:00", "--db", str(db)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{len(ids)} dispatches" in out and "0 differ" in out


def test_replay_with_a_candidate_config_lists_every_changed_decision(
    demo_log: tuple[Path, list[str], list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _, _ = demo_log
    configs = Path(__file__).parents[2] / "configs"
    text = (configs / "demo-feeder.yaml").read_text()
    # the copy lives elsewhere: point its network at the repo's file
    text = text.replace("network: networks/", f"network: {configs / 'networks'}/")
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(
        text.replace("threshold_kw: 1100", "threshold_kw: 1000").replace(
            "auto_approve_max_kw: 100", "auto_approve_max_kw: 10"
        )
    )
    code = main(
        [
            "replay",
            "--from",
            "2026-07-15T15:00",
            "--to",
            "2026-07-15T21:00",
            "--db",
            str(db),
            "--config",
            str(candidate),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert " policy " in out and "recorded: bat1" in out
    assert " approval_rule " in out and "replayed: one_operator" in out


def test_audit_verify_then_tamper(
    demo_log: tuple[Path, list[str], list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _, _ = demo_log
    copy = tmp_path / "copy.db"
    with sqlite3.connect(db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    assert main(["audit", "verify", "--db", str(copy)]) == 0
    with sqlite3.connect(copy) as raw:
        raw.execute("UPDATE events SET payload = payload || ' ' WHERE seq = 7")
    assert main(["audit", "verify", "--db", str(copy)]) == 1
    assert "record 7" in capsys.readouterr().err


def test_projections_restore_from_a_snapshot_equals_a_full_rebuild(
    demo_log: tuple[Path, list[str], list[str]],
) -> None:
    from runtime.log.eventlog import EventLog

    db, _, _ = demo_log
    log = EventLog(db)
    full = Projections()
    for event in log.events():
        full.apply(event)
    restored = Projections.load(log)  # the demo saved a snapshot when it closed
    assert log.load_snapshot(Projections.SNAPSHOT) is not None
    assert restored.to_json() == full.to_json()
    assert restored.setpoints["bat1"] == full.setpoints["bat1"]
    log.close()

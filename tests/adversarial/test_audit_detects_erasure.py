"""Invariant: erasing a control event's payload breaks the audit chain.

Attacker: someone with shell access who edits the event log with sqlite3. The record
hash commits to a payload digest (so retention can drop telemetry payloads); only the
kinds retention compacts may lose their payload, and only through a recorded
compaction. Any other erased payload is reported at its record, and ``explain`` on the
damaged dispatch says so in one line instead of crashing.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runtime.log import events as ev
from runtime.log.eventlog import EventLog
from tests.adversarial.rig import gridaios, no_traceback, request

T0 = datetime(2026, 7, 15, 18, 0, tzinfo=UTC)


def _log(tmp: Path) -> Path:
    """A dispatch's request and grant, and telemetry, as the runtime writes them."""
    tmp.mkdir(parents=True, exist_ok=True)
    db = tmp / "events.db"
    log = EventLog(db)
    request(log, "d1", at=T0)
    log.append_event(ev.ApprovalGranted(user="alice", reason="ok"), ts=T0, dispatch_id="d1")
    for i in range(5):
        log.append_event(
            ev.TelemetrySample(point="bat1.soc_pct", value=50.0 + i),
            ts=T0 + timedelta(seconds=i),
        )
    log.close()
    return db


def _verify(db: Path) -> tuple[int, str]:
    proc = gridaios("audit", "verify", "--db", str(db))
    no_traceback(proc)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("kind", ["approval.requested", "approval.granted", "dispatch.proposed"])
def test_erasing_a_control_payload_breaks_the_chain(tmp_path: Path, kind: str) -> None:
    db = _log(tmp_path)
    assert _verify(db)[0] == 0
    with sqlite3.connect(db) as raw:
        (seq,) = raw.execute("select seq from events where kind = ?", (kind,)).fetchone()
        raw.execute("update events set payload = NULL where seq = ?", (seq,))
    code, out = _verify(db)
    assert code == 1 and f"record {seq}" in out, out
    explained = gridaios("explain", "d1", "--db", str(db))
    no_traceback(explained)
    assert explained.returncode != 0 or "d1" in explained.stdout


def test_telemetry_payloads_go_only_through_compaction(tmp_path: Path) -> None:
    db = _log(tmp_path / "by-hand")
    with sqlite3.connect(db) as raw:
        (seq,) = raw.execute(
            "select min(seq) from events where kind = 'telemetry.sample'"
        ).fetchone()
        raw.execute("update events set payload = NULL where seq = ?", (seq,))
    code, out = _verify(db)
    assert code == 1 and f"record {seq}" in out, out
    # the same erasure through retention (recorded as log.compacted): intact
    db = _log(tmp_path / "retention")
    log = EventLog(db)
    assert log.compact(before=T0 + timedelta(hours=1), ts=T0 + timedelta(hours=1)) == 5
    log.close()
    assert _verify(db)[0] == 0

"""Invariant: cutting the tail of the audit log is detected (with its anchor).

Attacker: someone with shell access who deletes the newest records with sqlite3, or
every record, after the runtime was killed (no snapshot vouches for the cut). The
runtime publishes the log's head to a separate append-only anchor file at every
commit; ``audit verify`` (with the default ``<db>.anchor`` or ``--anchor FILE``)
reports the cut. What it cannot detect (the anchor deleted or rewritten too) is in
docs/guarantees.md.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.adversarial.rig import REPO, env, gridaios, no_traceback

WRITER = """
import sys, time
from datetime import UTC, datetime
from runtime.log import events as ev
from runtime.log.eventlog import EventLog
log = EventLog(sys.argv[1])
i = 0
while True:
    log.append_event(ev.TelemetrySample(point="bat1.soc_pct", value=float(i % 100)),
                     ts=datetime.now(UTC))
    log.append_event(ev.ApprovalGranted(user="alice", reason=f"r{i}"), ts=datetime.now(UTC),
                     dispatch_id=f"d{i}")
    i += 1
    if i == 40:
        print("ready", flush=True)
"""


def _killed_writer(tmp: Path) -> Path:
    """A runtime-like writer SIGKILLed mid-stream: no clean shutdown, no snapshot."""
    db = tmp / "events.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True, env=env(),
        cwd=REPO,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return db


def _verify(*args: str) -> tuple[int, str]:
    proc = gridaios("audit", "verify", *args)
    no_traceback(proc)
    return proc.returncode, proc.stdout + proc.stderr


def test_the_killed_runtimes_log_verifies_with_its_anchor(tmp_path: Path) -> None:
    db = _killed_writer(tmp_path)
    code, out = _verify("--db", str(db))
    assert code == 0 and "matches" in out, out


@pytest.mark.parametrize("keep", ["after the first grant", "nothing"])
def test_a_cut_tail_is_detected(tmp_path: Path, keep: str) -> None:
    db = _killed_writer(tmp_path)
    with sqlite3.connect(db) as raw:
        if keep == "nothing":
            raw.execute("delete from events")
        else:
            (first,) = raw.execute(
                "select min(seq) from events where kind = 'approval.granted'"
            ).fetchone()
            raw.execute("delete from events where seq > ?", (first,))
    code, out = _verify("--db", str(db))
    assert code == 1 and "cut from the tail" in out, out
    # the anchor named explicitly, from elsewhere (e.g. a copy kept off the box)
    copy = tmp_path / "offbox.anchor"
    copy.write_bytes(Path(f"{db}.anchor").read_bytes())
    code, out = _verify("--db", str(db), "--anchor", str(copy))
    assert code == 1 and "cut from the tail" in out, out


def test_a_rewritten_tail_is_detected(tmp_path: Path) -> None:
    """Cut the tail and append fresh, self-consistent records in its place."""
    db = _killed_writer(tmp_path)
    with sqlite3.connect(db) as raw:
        (head,) = raw.execute("select max(seq) from events").fetchone()
        raw.execute("delete from events where seq > ?", (head - 10,))
    from datetime import UTC, datetime

    from runtime.log import events as ev
    from runtime.log.eventlog import EventLog

    log = EventLog(db, anchor=False)  # the attacker's writer does not publish
    for i in range(12):
        log.append_event(ev.TelemetrySample(point="x", value=float(i)), ts=datetime.now(UTC))
    log.close()
    code, out = _verify("--db", str(db))
    assert code == 1 and "differs" in out, out


def test_an_appended_anchor_line_cannot_vouch_for_a_rewritten_tail(tmp_path: Path) -> None:
    """The anchor made append-only (``chattr +a``, as the docs advise) still takes appends.

    Rewrite the tail past the old head and *append* one line vouching for the new head:
    every line the runtime wrote earlier still vouches for its record, so the rewrite
    must be reported, not only checked against the newest line.
    """
    db = _killed_writer(tmp_path)
    with sqlite3.connect(db) as raw:
        (head,) = raw.execute("select max(seq) from events").fetchone()
        raw.execute("delete from events where seq > ?", (head - 10,))
    from datetime import UTC, datetime

    from runtime.log import events as ev
    from runtime.log.eventlog import EventLog

    log = EventLog(db, anchor=False)  # the attacker's writer does not publish
    for i in range(30):
        log.append_event(ev.TelemetrySample(point="x", value=float(i)), ts=datetime.now(UTC))
    new_head, new_hash = log.head()
    log.close()
    assert new_head > head
    with Path(f"{db}.anchor").open("a") as anchor:  # O_APPEND: what chattr +a allows
        anchor.write(f'{{"seq":{new_head},"hash":"{new_hash}","at":"2026-01-01T00:00:00Z"}}\n')
    code, out = _verify("--db", str(db))
    assert code == 1 and "differs" in out, out


def test_an_anchor_overwritten_with_garbage_is_not_read_as_empty(tmp_path: Path) -> None:
    """Lines that are not anchor entries (other than a torn last line) are tampering."""
    db = _killed_writer(tmp_path)
    with sqlite3.connect(db) as raw:
        raw.execute("delete from events")
    Path(f"{db}.anchor").write_text("x\ny\n")
    code, out = _verify("--db", str(db))
    assert code == 1, out

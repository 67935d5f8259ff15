"""Invariant: a storage fault is said in one line with its own exit code (3), never a
traceback with the code of "chain broken" (1); a read-only evidence copy verifies.

Fault injector: a disk that fills up under the running demo (a small tmpfs mounted by
the test), a corrupt file, a file that is not a database, a copy on read-only media.
Mounting needs root; the test skips, saying why, where the platform refuses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runtime.log import events as ev
from runtime.log.eventlog import EventLog
from tests.adversarial.rig import gridaios, no_traceback


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"the platform refuses a tmpfs mount: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _small_log(db: Path) -> None:
    log = EventLog(db)
    for i in range(20):
        log.append_event(ev.ApprovalGranted(user="a", reason=str(i)), ts=datetime.now(UTC))
    log.close()


@pytest.mark.slow
def test_disk_full_during_the_demo_is_one_line_and_exit_3(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "600k") as small:
        proc = gridaios(
            "demo", "--auto-approve", "--speed", "300", "--db", str(small / "events.db"),
            timeout=300,
        )  # fmt: skip
    no_traceback(proc)
    assert proc.returncode == 3, (proc.returncode, proc.stderr[-2000:])
    lines = [ln for ln in proc.stderr.splitlines() if "storage error" in ln]
    assert len(lines) == 1 and "disk is full" in lines[0], proc.stderr[-2000:]
    assert "cannot rollback" not in proc.stderr


def test_a_corrupt_or_foreign_file_is_a_storage_error(tmp_path: Path) -> None:
    foreign = tmp_path / "notes.db"
    foreign.write_bytes(b"this is not a database\n" * 200)
    proc = gridaios("audit", "verify", "--db", str(foreign))
    no_traceback(proc)
    assert proc.returncode == 3 and "not an SQLite database" in proc.stderr, proc.stderr
    corrupt = tmp_path / "events.db"
    _small_log(corrupt)
    data = bytearray(corrupt.read_bytes())
    data[4096 : 4096 + 512] = b"\xa5" * 512  # a page of the table trashed
    corrupt.write_bytes(bytes(data))
    proc = gridaios("audit", "verify", "--db", str(corrupt))
    no_traceback(proc)
    assert proc.returncode in (1, 3), proc.stderr
    if proc.returncode == 3:
        assert "storage error" in proc.stderr


def test_a_read_only_evidence_copy_verifies(tmp_path: Path) -> None:
    source = tmp_path / "events.db"
    _small_log(source)
    with tmpfs(tmp_path / "evidence", "4m") as media:
        shutil.copy(source, media / "events.db")
        shutil.copy(f"{source}.anchor", media / "events.db.anchor")
        remount = subprocess.run(
            ["mount", "-o", "remount,ro", str(media)], capture_output=True, text=True
        )
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
        proc = gridaios("audit", "verify", "--db", str(media / "events.db"))
        no_traceback(proc)
        assert proc.returncode == 0, proc.stderr
        assert "chain intact (20 events)" in proc.stdout and "matches" in proc.stdout


def test_disk_full_during_a_local_approval_records_nothing_and_exits_3(tmp_path: Path) -> None:
    """The grant either lands whole or not at all; the operator is told why in one line."""
    from tests.adversarial.rig import add_user, grants, request

    with tmpfs(tmp_path / "small", "2m") as small:
        db, users = small / "events.db", small / "users.db"
        tokens = {name: add_user(users, db, name) for name in ("alice", "bob")}
        log = EventLog(db)
        request(log, "d1", value=220.0)
        log.close()
        filler = small / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass  # the disk is full
        finally:
            os.close(fd)
        proc = gridaios("approvals", "--db", str(db), "approve", "d1", "--token", tokens["bob"])
        no_traceback(proc)
        assert proc.returncode == 3, (proc.returncode, proc.stdout, proc.stderr)
        assert "storage error" in proc.stderr and "full" in proc.stderr, proc.stderr
        filler.unlink()
        assert grants(db, "d1") == []
        again = gridaios("approvals", "--db", str(db), "approve", "d1", "--token", tokens["bob"])
        assert again.returncode == 0, again.stderr
        assert [g["user"] for g in grants(db, "d1")] == ["bob"]

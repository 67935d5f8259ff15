"""What the hash chain alone cannot see, and storage faults said in one line.

- **Erased payloads.** A record's hash commits to its payload's digest, so retention can
  drop a telemetry payload and the chain still verifies. Only the kinds retention
  compacts (``events.TELEMETRY_KINDS``) may lose their payload, and only through a
  compaction recorded after them (``log.compacted`` whose ``before`` is later than the
  record and whose ``kinds`` name it). Any other NULL payload breaks the chain there.
- **A cut tail.** Deleting the newest records leaves a valid, shorter chain. The anchor
  is a separate append-only file (``<db>.anchor`` by default) where every commit batch
  appends ``{"seq", "hash", "at"}``: ``audit verify --anchor FILE`` checks that the log
  still holds the newest anchored record with the anchored hash (with the chain intact
  up to it, that vouches for every record before it too).
- **Storage faults** (disk full, read-only or corrupt file) are named by
  ``storage_cause`` so the CLI prints one line and exits ``EXIT_STORAGE``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXIT_STORAGE = 3


# --- erased payloads -------------------------------------------------------------------


@dataclass(slots=True)
class CompactionRule:
    """Fed every record in seq order; ``first_unexplained`` is the first illegal NULL payload."""

    telemetry_kinds: frozenset[str]
    bad: int | None = None
    waiting: list[tuple[int, str, str]] = field(default_factory=list)  # (seq, ts, kind)

    def see(self, seq: int, ts: str, kind: str, payload: str | None) -> None:
        if payload is None:
            if kind not in self.telemetry_kinds:
                self._fail(seq)
            else:
                self.waiting.append((seq, ts, kind))
            return
        if kind == "log.compacted" and self.waiting:
            try:
                body: Any = json.loads(payload)
                before = datetime.fromisoformat(str(body["before"])).astimezone(UTC)
                kinds = set(body["kinds"])
            except (ValueError, KeyError, TypeError):
                return
            self.waiting = [
                (s, t, k)
                for s, t, k in self.waiting
                if not (k in kinds and datetime.fromisoformat(t).astimezone(UTC) < before)
            ]

    def _fail(self, seq: int) -> None:
        if self.bad is None or seq < self.bad:
            self.bad = seq

    def first_unexplained(self) -> int | None:
        for seq, _, _ in self.waiting:  # a NULL payload no compaction accounts for
            self._fail(seq)
        return self.bad


# --- the anchor ------------------------------------------------------------------------


def default_anchor(db: Path) -> Path:
    return db.with_name(db.name + ".anchor")


class Anchor:
    """The append-only file one log's head is published to, after every commit batch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()
        self.failures = 0

    def publish(self, seq: int, digest: str, *, durable: bool) -> None:
        line = json.dumps(
            {"seq": seq, "hash": digest, "at": datetime.now(UTC).isoformat()},
            separators=(",", ":"),
        )
        try:
            with self._lock:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
                os.write(self._fd, (line + "\n").encode())
                if durable:
                    os.fdatasync(self._fd)
        except OSError as err:  # the record is committed; the anchor lags (alarm, never stop)
            self.failures += 1
            log.error(
                "audit anchor %s not written (%s): a cut tail after seq %d would not be detected",
                self.path,
                err.strerror,
                seq,
            )

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


@dataclass(frozen=True, slots=True)
class AnchorCheck:
    ok: bool
    message: str
    anchored_seq: int = 0


def read_anchor(path: Path) -> tuple[int, str] | None:
    """The newest (seq, hash) the anchor file vouches for; a torn last line is skipped."""
    entries, _ = read_anchor_entries(path)
    if not entries:
        return None
    seq = max(entries)
    return seq, entries[seq][0]


def read_anchor_entries(path: Path) -> tuple[dict[int, tuple[str, ...]], int]:
    """Every (seq -> hashes) the anchor vouches for, and how many lines were unreadable.

    Every line counts, not only the newest: the file is append-only (``chattr +a``
    still lets anyone append), so a line appended for a rewritten tail must not outvote
    the lines the runtime wrote before it.
    """
    entries: dict[int, tuple[str, ...]] = {}
    unreadable = 0
    with path.open("rb") as f:
        for raw in f:
            try:
                entry = json.loads(raw)
                seq, digest = int(entry["seq"]), str(entry["hash"])
            except (ValueError, KeyError, TypeError):
                unreadable += int(bool(raw.strip()))  # torn lines (a crash, a full disk)
                continue
            known = entries.get(seq, ())
            if digest not in known:
                entries[seq] = (*known, digest)
    return entries, unreadable


def check_anchor(hash_at: Any, head_seq: int, path: Path) -> AnchorCheck:
    """Does the log still hold every anchored record, each with its anchored hash?"""
    entries, unreadable = read_anchor_entries(path)
    if not entries:
        if unreadable:
            return AnchorCheck(
                False,
                f"anchor {path}: {unreadable} line(s) and none is an anchor entry: "
                "the anchor was overwritten",
            )
        return AnchorCheck(True, f"anchor {path}: empty (nothing vouched for yet)")
    newest = max(entries)
    for seq in sorted(entries):
        digests = entries[seq]
        found = hash_at(seq)
        if found is None:
            return AnchorCheck(
                False,
                f"anchor {path} vouches for record {newest}, but the log ends at {head_seq}: "
                f"{newest - head_seq} record(s) cut from the tail",
                newest,
            )
        if len(digests) > 1 or found != digests[0]:
            return AnchorCheck(
                False,
                f"record {seq} differs from the one anchor {path} vouches for: the log was "
                "rewritten from there or before",
                seq,
            )
    return AnchorCheck(True, f"anchor {path}: record {newest} matches", newest)


# --- storage faults ----------------------------------------------------------------------


def open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection that works on a read-only evidence copy (no -shm write)."""
    uri = f"file:{path.resolve()}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        pass
    # a WAL database in a read-only place: read the main file as it is (immutable)
    db = sqlite3.connect(
        f"{uri}&immutable=1", uri=True, isolation_level=None, check_same_thread=False
    )
    db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return db


_SQLITE_CAUSES = (
    ("disk is full", "the disk is full; free space and restart"),
    ("readonly database", "the file or its folder is read-only"),
    ("unable to open database", "the file cannot be opened (missing folder or permissions)"),
    ("not a database", "the file is not an SQLite database (corrupt or wrong file)"),
    ("malformed", "the database file is corrupt (malformed)"),
    ("disk i/o error", "the disk reported an I/O error"),
)
_ERRNO_CAUSES = {
    errno.ENOSPC: "the disk is full; free space and restart",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EIO: "the disk reported an I/O error",
    errno.EDQUOT: "the disk quota is exceeded",
}


def storage_cause(err: BaseException) -> str | None:
    """A one-line cause when ``err`` (or what it wraps) is a storage fault, else None."""
    seen: set[int] = set()
    todo: list[BaseException] = [err]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, sqlite3.DatabaseError):
            text = str(e).lower()
            for needle, cause in _SQLITE_CAUSES:
                if needle in text:
                    return cause
        if isinstance(e, OSError) and e.errno in _ERRNO_CAUSES:
            return _ERRNO_CAUSES[e.errno]
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)
        for nxt in (e.__cause__, e.__context__):
            if nxt is not None:
                todo.append(nxt)
    return None

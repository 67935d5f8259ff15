"""The event log: append-only, hash-chained, in SQLite (WAL, synchronous=FULL).

Every step of a dispatch is an event. Each record carries the hash of the one
before it, so any edit, deletion or reordering is detectable.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq         INTEGER PRIMARY KEY,
    ts          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    dispatch_id TEXT,
    payload     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_dispatch ON events(dispatch_id);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind);
"""


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    ts: datetime
    kind: str
    dispatch_id: str | None
    payload: Mapping[str, Any]
    prev_hash: str
    hash: str


def _digest(
    prev_hash: str, seq: int, ts: str, kind: str, dispatch_id: str | None, payload: str
) -> str:
    body = json.dumps([prev_hash, seq, ts, kind, dispatch_id, payload], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


class EventLog:
    """One SQLite file; safe to share between processes (appends take a write lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def append(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        ts: datetime,
        dispatch_id: str | None = None,
    ) -> Event:
        body = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        ts_text = ts.isoformat()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
            digest = _digest(prev, seq, ts_text, kind, dispatch_id, body)
            db.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seq, ts_text, kind, dispatch_id, body, prev, digest),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return Event(seq, ts, kind, dispatch_id, json.loads(body), prev, digest)

    def events(
        self, *, dispatch_id: str | None = None, kinds: tuple[str, ...] = (), after_seq: int = 0
    ) -> Iterator[Event]:
        sql = (
            "SELECT seq, ts, kind, dispatch_id, payload, prev_hash, hash FROM events WHERE seq > ?"
        )
        args: list[Any] = [after_seq]
        if dispatch_id is not None:
            sql += " AND dispatch_id = ?"
            args.append(dispatch_id)
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args.extend(kinds)
        for row in self._db.execute(sql + " ORDER BY seq", args):
            yield Event(
                row[0],
                datetime.fromisoformat(row[1]),
                row[2],
                row[3],
                json.loads(row[4]),
                row[5],
                row[6],
            )

    def verify(self) -> int | None:
        """Return the seq of the first record that breaks the chain, or None when intact."""
        prev = GENESIS
        expected_seq = 1
        query = (
            "SELECT seq, ts, kind, dispatch_id, payload, prev_hash, hash FROM events ORDER BY seq"
        )
        for seq, ts, kind, dispatch_id, payload, prev_hash, digest in self._db.execute(query):
            if seq != expected_seq or prev_hash != prev:
                return int(seq)
            if _digest(prev, seq, ts, kind, dispatch_id, payload) != digest:
                return int(seq)
            prev = digest
            expected_seq += 1
        return None

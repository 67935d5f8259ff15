"""On-disk buffer of outgoing commands and incoming acks, so a restart loses neither.

A command is written (and fsynced) before it is published; it stays ``pending`` until the
device's ack arrives. After a restart every pending command that is still valid is
published again with the same idempotency key (the device deduplicates by key). Acks are
written as they arrive, so an ack that lands while nobody waits is not lost either.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS command (
    key TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    valid_until TEXT NOT NULL,
    created TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ack (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    value REAL,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL,
    received TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class SpooledCommand:
    key: str
    topic: str
    payload: bytes
    valid_until: datetime
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SpooledAck:
    key: str
    status: str
    value: float | None
    reason: str
    received: datetime


class Spool:
    """SQLite (WAL, synchronous=FULL) outbox of commands and journal of acks."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def add(
        self, key: str, topic: str, payload: bytes, valid_until: datetime, now: datetime
    ) -> bool:
        """Store a command before it is sent; False if the key is already spooled."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO command (key, topic, payload, valid_until, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, topic, payload, valid_until.isoformat(), now.isoformat()),
            )
            return cur.rowcount == 1

    def mark_sent(self, key: str) -> None:
        with self._lock:
            self._db.execute("UPDATE command SET attempts = attempts + 1 WHERE key = ?", (key,))

    def pending(self, now: datetime) -> list[SpooledCommand]:
        """Commands not yet acknowledged; expired ones are marked expired and left out."""
        with self._lock:
            self._db.execute(
                "UPDATE command SET state = 'expired' WHERE state = 'pending' AND valid_until <= ?",
                (now.isoformat(),),
            )
            rows = self._db.execute(
                "SELECT key, topic, payload, valid_until, attempts FROM command "
                "WHERE state = 'pending' ORDER BY created"
            ).fetchall()
        return [
            SpooledCommand(
                key=k,
                topic=t,
                payload=bytes(p),
                valid_until=datetime.fromisoformat(v),
                attempts=a,
            )
            for k, t, p, v, a in rows
        ]

    def record_ack(
        self, key: str, status: str, value: float | None, reason: str, payload: bytes, now: datetime
    ) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO ack (key, status, value, reason, payload, received) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, status, value, reason, payload, now.isoformat()),
            )
            self._db.execute("UPDATE command SET state = 'acked' WHERE key = ?", (key,))
            self._db.execute("COMMIT")

    def ack(self, key: str) -> SpooledAck | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key, status, value, reason, received FROM ack WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return SpooledAck(
            key=row[0],
            status=row[1],
            value=row[2],
            reason=row[3],
            received=datetime.fromisoformat(row[4]),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

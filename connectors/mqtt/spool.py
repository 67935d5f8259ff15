"""On-disk buffer of outgoing commands and incoming acks, so a restart loses neither.

A command is written (and fsynced) before it is published; it stays ``pending`` until the
device's ack arrives. After a restart every pending command that is still valid is
published again with the same idempotency key (the device deduplicates by key). Acks are
written as they arrive, so an ack that lands while nobody waits is not lost either.

Only a final answer settles a key: ``applied`` / ``duplicate`` (the device holds the key)
and ``expired`` (its ``valid_until`` has passed, which it cannot un-pass). ``rejected`` is
not final: the device refused for now (fail-safe hold, no heartbeat, device unreachable)
and did not record the key, so the command is kept as ``rejected`` (not re-sent on
reconnect) and a retry of the same key puts it back to ``pending``. A rejection never
overwrites a final ack (a late QoS 1 redelivery, say).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

FINAL_ACKS = frozenset({"applied", "duplicate", "expired"})
_FINAL_SQL = "(" + ", ".join(f"'{status}'" for status in sorted(FINAL_ACKS)) + ")"

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
        """Store a command before it is sent: a new key, or one the device rejected (back
        to ``pending``). False if the key is already spooled in another state."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO command (key, topic, payload, valid_until, created) "
                "VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET state = 'pending' "
                "WHERE command.state = 'rejected'",
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
        """Journal the device's answer; a final one settles the key for good."""
        final = status in FINAL_ACKS
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO ack (key, status, value, reason, payload, received) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET status = excluded.status, "
                "value = excluded.value, reason = excluded.reason, "
                "payload = excluded.payload, received = excluded.received "
                f"WHERE ack.status NOT IN {_FINAL_SQL}",
                (key, status, value, reason, payload, now.isoformat()),
            )
            self._db.execute(
                "UPDATE command SET state = ? WHERE key = ? AND state <> 'acked'",
                ("acked" if final else "rejected", key),
            )
            self._db.execute("COMMIT")

    def ack(self, key: str) -> SpooledAck | None:
        """The last answer journaled for ``key`` (final or not)."""
        return self._ack(key, "")

    def final_ack(self, key: str) -> SpooledAck | None:
        """The device's final answer for ``key``, if it gave one: the idempotency cache."""
        return self._ack(key, f" AND status IN {_FINAL_SQL}")

    def _ack(self, key: str, where: str) -> SpooledAck | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT key, status, value, reason, received FROM ack WHERE key = ?{where}",
                (key,),
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

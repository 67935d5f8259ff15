"""The dead-letter store: input or work that could not be processed, kept for a human.

One SQLite file. Connectors put malformed input here (raw bytes kept for
inspection); the outbox puts commands that exhausted their retries.
``retry(id)`` marks an entry for its owner to take back with ``claim_retries``;
``drop(id)`` closes it. Nothing is ever deleted: the status says what happened.
"""

from __future__ import annotations

import builtins
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from runtime.core.errors import GridaiosError, NotFound
from runtime.log.durable import open_durable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    source      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    payload     BLOB NOT NULL,
    ts          TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'dead',
    retries     INTEGER NOT NULL DEFAULT 0,
    updated_ts  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_status ON dead_letters(status, kind);
"""


class Status(StrEnum):
    DEAD = "dead"  # waiting for a human
    RETRY = "retry"  # a human asked for a retry; the owner has not taken it yet
    RETRIED = "retried"  # the owner took it back for processing
    DROPPED = "dropped"  # a human closed it


class DeadLetterError(GridaiosError):
    """The entry cannot make that move (already dropped, ...)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    id: int
    kind: str
    source: str
    reason: str
    payload: bytes
    ts: datetime
    status: Status
    retries: int


def _row(r: tuple[object, ...]) -> DeadLetter:
    return DeadLetter(
        id=int(r[0]),  # type: ignore[call-overload]
        kind=str(r[1]),
        source=str(r[2]),
        reason=str(r[3]),
        payload=bytes(r[4]),  # type: ignore[call-overload]
        ts=datetime.fromisoformat(str(r[5])),
        status=Status(str(r[6])),
        retries=int(r[7]),  # type: ignore[call-overload]
    )


_COLS = "id, kind, source, reason, payload, ts, status, retries"


class DeadLetterStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = open_durable(self.path, _SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, kind: str, source: str, reason: str, payload: bytes, ts: datetime) -> int:
        """Keep ``payload`` (raw bytes) with why it failed; returns the entry id."""
        if ts.tzinfo is None:
            raise ValueError("DeadLetterStore.put: ts must be timezone-aware (UTC)")
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise TypeError(f"DeadLetterStore.put: payload must be bytes, got {type(payload)}")
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO dead_letters (kind, source, reason, payload, ts, updated_ts)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (kind, source, reason, bytes(payload), ts.isoformat(), ts.isoformat()),
            )
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def list(
        self, *, status: Status | None = None, kind: str | None = None, limit: int = 1000
    ) -> list[DeadLetter]:
        """Entries, newest first (all statuses unless ``status`` is given)."""
        sql = f"SELECT {_COLS} FROM dead_letters WHERE 1=1"
        args: list[object] = []
        if status is not None:
            sql += " AND status = ?"
            args.append(status.value)
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", [*args, limit]).fetchall()
        return [_row(r) for r in rows]

    def get(self, id: int) -> DeadLetter:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLS} FROM dead_letters WHERE id = ?", (id,)
            ).fetchone()
        if row is None:
            raise NotFound(f"dead letter {id} does not exist; see `gridaios dlq list`")
        return _row(row)

    def retry(self, id: int) -> DeadLetter:
        """Ask the owner to process the entry again (it takes it with ``claim_retries``)."""
        entry = self.get(id)
        if entry.status is Status.DROPPED:
            raise DeadLetterError(f"dead letter {id} was dropped; it cannot be retried")
        self._set(id, Status.RETRY, bump=True)
        return self.get(id)

    def drop(self, id: int) -> DeadLetter:
        self.get(id)
        self._set(id, Status.DROPPED)
        return self.get(id)

    def claim_retries(self, kind: str) -> builtins.list[DeadLetter]:
        """Entries of ``kind`` a human asked to retry; each is handed out once."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    f"SELECT {_COLS} FROM dead_letters WHERE status = ? AND kind = ? ORDER BY id",
                    (Status.RETRY.value, kind),
                ).fetchall()
                self._db.executemany(
                    "UPDATE dead_letters SET status = ?, updated_ts = ? WHERE id = ?",
                    [(Status.RETRIED.value, _now(), r[0]) for r in rows],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return [_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT status, count(*) FROM dead_letters GROUP BY status"
            ).fetchall()
        return {str(s): int(n) for s, n in rows}

    def _set(self, id: int, status: Status, *, bump: bool = False) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE dead_letters SET status = ?, updated_ts = ?,"
                " retries = retries + ? WHERE id = ?",
                (status.value, _now(), 1 if bump else 0, id),
            )


def _now() -> str:
    # Bookkeeping timestamp of a human action (not decision code).
    return datetime.now(UTC).isoformat()

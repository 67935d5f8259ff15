"""Dead-letter store: bad input kept with its raw bytes, for an integrator to inspect.

Minimal version made by the connectors work (the runtime's own may replace it with the
same API): ``put(kind, source, reason, payload, ts) -> id`` and ``list()``.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL,
    ts TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    id: int
    kind: str
    source: str
    reason: str
    payload: bytes
    ts: datetime


class DeadLetterStore:
    """SQLite (WAL) table of dead letters; safe to call from more than one thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def put(self, kind: str, source: str, reason: str, payload: bytes, ts: datetime) -> int:
        if ts.tzinfo is None:
            raise ValueError("dead letter ts must be timezone-aware (UTC)")
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO dead_letter (kind, source, reason, payload, ts) "
                "VALUES (?, ?, ?, ?, ?)",
                (kind, source, reason, bytes(payload), ts.isoformat()),
            )
        return int(cur.lastrowid or 0)

    def list(
        self, *, source: str | None = None, kind: str | None = None, limit: int = 100
    ) -> list[DeadLetter]:
        """Newest first."""
        sql = "SELECT id, kind, source, reason, payload, ts FROM dead_letter"
        where: list[str] = []
        args: list[object] = []
        if source is not None:
            where.append("source = ?")
            args.append(source)
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [
            DeadLetter(
                id=r[0],
                kind=r[1],
                source=r[2],
                reason=r[3],
                payload=bytes(r[4]),
                ts=datetime.fromisoformat(r[5]),
            )
            for r in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()

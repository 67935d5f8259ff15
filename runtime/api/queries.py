"""Read-only queries on the event log the API needs and ``EventLog`` does not offer:
newest-first, text search, counts. Its own connection, ``query_only``: it never writes.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from runtime.log import events as ev
from runtime.log.eventlog import Event

_COLS = "seq, ts, kind, dispatch_id, payload, prev_hash, hash"


def _event(row: tuple[Any, ...]) -> Event:
    seq, ts, kind, did, payload, prev, digest = row
    body = ev.upcast(kind, orjson.loads(payload)) if payload is not None else {}
    return Event(seq, datetime.fromisoformat(ts), kind, did, body, prev, digest, payload is None)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Queries:
    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
        self._db.execute("PRAGMA query_only=ON")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _rows(self, sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def newest_with_seq(
        self, kind: str, limit: int, before_seq: int | None = None
    ) -> list[tuple[int, str]]:
        sql = "SELECT seq, dispatch_id FROM events WHERE kind = ? AND dispatch_id IS NOT NULL"
        args: list[Any] = [kind]
        if before_seq is not None:
            sql += " AND seq < ?"
            args.append(before_seq)
        rows = self._rows(sql + " ORDER BY seq DESC LIMIT ?", [*args, limit])
        return [(int(r[0]), str(r[1])) for r in rows]

    def search(
        self,
        *,
        kind: str | None = None,
        dispatch_id: str | None = None,
        text: str | None = None,
        after_seq: int | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """Matching events in seq order: the first ``limit`` after ``after_seq``, or, without
        it, the newest ``limit``. ``kind`` ending in ``*`` matches a prefix (``auth.*``); any
        other ``kind`` matches kinds containing it (``approval``, ``granted``)."""
        where: list[str] = []
        args: list[Any] = []
        if kind:
            if kind.endswith("*"):
                where.append("kind LIKE ? ESCAPE '\\'")
                args.append(_like(kind[:-1])[1:])
            else:  # "approval" finds approval.*, "granted" approval.granted
                where.append("kind LIKE ? ESCAPE '\\'")
                args.append(_like(kind))
        if dispatch_id:
            where.append("dispatch_id = ?")
            args.append(dispatch_id)
        if text:
            where.append(
                "(payload LIKE ? ESCAPE '\\' OR kind LIKE ? ESCAPE '\\'"
                " OR dispatch_id LIKE ? ESCAPE '\\')"
            )
            args += [_like(text)] * 3
        if after_seq is not None:
            where.append("seq > ?")
            args.append(after_seq)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        order = "ASC" if after_seq is not None else "DESC"
        rows = self._rows(
            f"SELECT {_COLS} FROM events{clause} ORDER BY seq {order} LIMIT ?", [*args, limit]
        )
        events = [_event(r) for r in rows]
        return events if after_seq is not None else events[::-1]

    def first(self, dispatch_id: str, kind: str) -> Event | None:
        """The first event of ``kind`` for a dispatch (by the dispatch index: ``+kind``
        keeps SQLite off the kind index, which would scan every event of that kind)."""
        rows = self._rows(
            f"SELECT {_COLS} FROM events WHERE dispatch_id = ? AND +kind = ? ORDER BY seq LIMIT 1",
            [dispatch_id, kind],
        )
        return _event(rows[0]) if rows else None

    def kind_counts(
        self, prefix: str, *, after_seq: int = 0, until_seq: int | None = None
    ) -> dict[str, int]:
        """Events per kind starting with ``prefix``, among records ``(after_seq, until_seq]``."""
        sql = "SELECT kind, count(*) FROM events WHERE seq > ? AND kind LIKE ? ESCAPE '\\'"
        args: list[Any] = [after_seq, _like(prefix)[1:]]
        if until_seq is not None:
            sql += " AND seq <= ?"
            args.append(until_seq)
        return {str(k): int(n) for k, n in self._rows(sql + " GROUP BY kind", args)}

    def head_seq(self) -> int:
        """The newest record's seq (0 when empty)."""
        return int(self._rows("SELECT coalesce(max(seq), 0) FROM events", [])[0][0])

    def count(self) -> int:
        return int(self._rows("SELECT count(*) FROM events", [])[0][0])

"""The event log: append-only, typed, hash-chained, in SQLite (WAL, synchronous=FULL).

Every step of a dispatch is an event. Each record carries the hash of the one
before it, so any edit, deletion or reordering is detectable.

Record hash (v2): sha256 over (prev_hash, seq, ts, kind, dispatch_id, sha256(payload)).
Committing to the payload's digest rather than its bytes lets retention drop the
payload of telemetry-grade events while the chain stays verifiable. Records
written by the skeleton (hash v1, over the payload text) still verify.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from runtime.log import events as ev
from runtime.log.durable import open_durable

log = logging.getLogger(__name__)

GENESIS = "0" * 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq         INTEGER PRIMARY KEY,
    ts          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    dispatch_id TEXT,
    payload     TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_dispatch ON events(dispatch_id);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind);
CREATE TABLE IF NOT EXISTS snapshots (
    seq      INTEGER PRIMARY KEY,
    hash     TEXT NOT NULL,
    name     TEXT NOT NULL,
    state    TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    ts: datetime
    kind: str
    dispatch_id: str | None
    payload: Mapping[str, Any]  # upcast to the newest version of its kind
    prev_hash: str
    hash: str
    compacted: bool = False

    def typed(self) -> ev.TypedEvent | ev.UntypedEvent:
        return ev.parse(self.kind, self.payload)


@dataclass(frozen=True, slots=True)
class Pending:
    """One event to append in a batch."""

    kind: str
    payload: Mapping[str, Any]
    ts: datetime
    dispatch_id: str | None = None


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _sha_bytes(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _digest_v1(
    prev_hash: str, seq: int, ts: str, kind: str, dispatch_id: str | None, payload: str
) -> str:
    body = json.dumps([prev_hash, seq, ts, kind, dispatch_id, payload], separators=(",", ":"))
    return _sha(body)


def _digest_v2(
    prev_hash: str, seq: int, ts: str, kind: str, dispatch_id: str | None, payload_sha: str
) -> str:
    # Fields joined by NUL: none of them can contain one (SQLite TEXT from Python str may,
    # so kind and dispatch_id are checked on append).
    did = "\x01" if dispatch_id is None else dispatch_id
    return _sha(f"2\x00{prev_hash}\x00{seq}\x00{ts}\x00{kind}\x00{did}\x00{payload_sha}")


def _encode(payload: Mapping[str, Any]) -> str:
    """Canonical JSON: sorted keys, no spaces (what the payload digest is taken over)."""
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str).decode()


class EventLog:
    """One SQLite file; safe to share between processes (appends take a write lock)."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db = open_durable(self.path, _SCHEMA, create_parent=not readonly)
        self._migrate()

    def _migrate(self) -> None:
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
        if "payload_sha" not in columns:
            # Skeleton logs: their records keep hash v1; new records use v2.
            self._db.execute("ALTER TABLE events ADD COLUMN payload_sha TEXT")
            self._db.execute("ALTER TABLE events ADD COLUMN hv INTEGER NOT NULL DEFAULT 1")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writing --------------------------------------------------------------

    def append(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        ts: datetime,
        dispatch_id: str | None = None,
    ) -> Event:
        """Validate (known kinds), chain and commit one event; fsync'd before returning."""
        return self.append_many([Pending(kind, payload, ts, dispatch_id)])[0]

    def append_event(
        self, event: BaseModel, *, ts: datetime, dispatch_id: str | None = None
    ) -> Event:
        kind, payload = ev.dump(event)
        return self.append_many([Pending(kind, payload, ts, dispatch_id)], validate=False)[0]

    def append_many(
        self,
        items: Sequence[Pending],
        *,
        validate: bool = True,
        durable: bool = True,
        returning: bool = True,
    ) -> list[Event]:
        """Append a batch in one transaction: one fsync for all of them (group commit).

        ``durable=False`` (telemetry-grade batches) commits without waiting for the
        disk; a crash may lose the tail of such a batch, never corrupt the chain.
        ``returning=False`` (bulk writers) skips building the returned events.
        """
        for item in items:
            if item.ts.tzinfo is None:
                raise ValueError(f"event {item.kind}: ts must be timezone-aware (UTC)")
            if "\x00" in item.kind or (item.dispatch_id is not None and "\x00" in item.dispatch_id):
                raise ValueError(f"event {item.kind!r}: kind and dispatch_id must not contain NUL")
        bodies = ev.normalise_many(items) if validate else [dict(i.payload) for i in items]
        # Everything but the chain itself is computed outside the write lock.
        prepared: list[tuple[Pending, dict[str, Any], str, str, str]] = []
        for item, body in zip(items, bodies, strict=True):
            raw = orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)
            ts = item.ts if item.ts.tzinfo is UTC else item.ts.astimezone(UTC)
            # one offset for every record: ts sorts as text
            prepared.append((item, body, raw.decode(), ts.isoformat(), _sha_bytes(raw)))
        rows: list[tuple[Any, ...]] = []
        out: list[Event] = []
        with self._lock:
            db = self._db
            if not durable:
                db.execute("PRAGMA synchronous=NORMAL")
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                seq, prev = (row[0], row[1]) if row else (0, GENESIS)
                for item, body, text, ts_text, psha in prepared:
                    seq += 1
                    did = item.dispatch_id
                    digest = _digest_v2(prev, seq, ts_text, item.kind, did, psha)
                    rows.append((seq, ts_text, item.kind, did, text, prev, digest, psha, 2))
                    if returning:
                        out.append(Event(seq, item.ts, item.kind, did, body, prev, digest))
                    prev = digest
                db.executemany(
                    "INSERT INTO events (seq, ts, kind, dispatch_id, payload, prev_hash, hash,"
                    " payload_sha, hv) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            finally:
                if not durable:
                    db.execute("PRAGMA synchronous=FULL")
        return out

    # --- reading --------------------------------------------------------------

    def events(
        self,
        *,
        dispatch_id: str | None = None,
        kinds: tuple[str, ...] = (),
        after_seq: int = 0,
        since: datetime | None = None,
        until: datetime | None = None,
        page: int = 5000,
    ) -> Iterator[Event]:
        """Events in seq order, read in pages (memory stays bounded on a large log)."""
        sql = (
            "SELECT seq, ts, kind, dispatch_id, payload, prev_hash, hash FROM events WHERE seq > ?"
        )
        args: list[Any] = []
        if dispatch_id is not None:
            sql += " AND dispatch_id = ?"
            args.append(dispatch_id)
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args.extend(kinds)
        if since is not None:  # stored ts are UTC ISO text, so text order is time order
            sql += " AND ts >= ?"
            args.append(since.astimezone(UTC).isoformat())
        if until is not None:
            sql += " AND ts <= ?"
            args.append(until.astimezone(UTC).isoformat())
        sql += " ORDER BY seq LIMIT ?"
        last = after_seq
        while True:
            with self._lock:  # one short query per page: appends are never held up
                rows = self._db.execute(sql, [last, *args, page]).fetchall()
            for seq, ts, kind, did, payload, prev, digest in rows:
                at = datetime.fromisoformat(ts)
                body = ev.upcast(kind, orjson.loads(payload)) if payload is not None else {}
                yield Event(seq, at, kind, did, body, prev, digest, payload is None)
            if len(rows) < page:
                return
            last = rows[-1][0]

    def has_dispatch(self, dispatch_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM events WHERE dispatch_id = ? LIMIT 1", (dispatch_id,)
            ).fetchone()
        return row is not None

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest record; (0, GENESIS) when empty."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    def hash_at(self, seq: int) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()
        return str(row[0]) if row else None

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    # --- integrity ------------------------------------------------------------

    def verify(self) -> int | None:
        """Return the seq of the first record that breaks the chain, or None when intact.

        Also detects a truncated tail when a snapshot vouches for a later record.
        """
        prev = GENESIS
        expected_seq = 1
        query = (
            "SELECT seq, ts, kind, dispatch_id, payload, prev_hash, hash, payload_sha, hv"
            " FROM events ORDER BY seq"
        )
        with self._lock:
            cursor = self._db.execute(query)
            for seq, ts, kind, did, payload, prev_hash, digest, psha, hv in cursor:
                if seq != expected_seq or prev_hash != prev:
                    return int(min(seq, expected_seq))
                if hv == 1:
                    ok = (
                        payload is not None
                        and _digest_v1(prev, seq, ts, kind, did, payload) == digest
                    )
                else:
                    ok = (payload is None or _sha(payload) == psha) and _digest_v2(
                        prev, seq, ts, kind, did, psha
                    ) == digest
                if not ok:
                    return int(seq)
                prev = digest
                expected_seq += 1
            anchor = self._db.execute("SELECT max(seq) FROM snapshots").fetchone()[0]
        if anchor is not None and anchor >= expected_seq:
            return expected_seq  # records the snapshot saw are gone
        return None

    # --- snapshots (derived state; never part of the chain) ---------------------

    def save_snapshot(self, name: str, seq: int, state: Mapping[str, Any]) -> None:
        digest = self.hash_at(seq) if seq else GENESIS
        if digest is None:
            raise ValueError(f"snapshot at seq {seq}: no such record")
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)",
                (seq, digest, name, _encode(state)),
            )
            self._db.execute("DELETE FROM snapshots WHERE name = ? AND seq < ?", (name, seq))

    def load_snapshot(self, name: str) -> tuple[int, dict[str, Any]] | None:
        """The newest snapshot whose anchor record still has the hash it saw."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, hash, state FROM snapshots WHERE name = ? ORDER BY seq DESC LIMIT 1",
                (name,),
            ).fetchone()
        if row is None:
            return None
        seq, digest, state = row
        if seq and self.hash_at(seq) != digest:
            log.warning("snapshot %s at seq %d does not match the log: rebuilding", name, seq)
            return None
        return int(seq), orjson.loads(state)

    # --- retention --------------------------------------------------------------

    def compact(
        self, *, before: datetime, ts: datetime, kinds: frozenset[str] = ev.TELEMETRY_KINDS
    ) -> int:
        """Drop the payloads of telemetry-grade events older than ``before``.

        Records stay (seq, hashes, payload digest), so ``verify`` still passes; the
        compaction itself is an event in the chain.
        """
        if not kinds <= ev.TELEMETRY_KINDS:
            raise ValueError(
                f"compact: {sorted(kinds - ev.TELEMETRY_KINDS)} are not telemetry-grade kinds"
            )
        marks = ",".join("?" * len(kinds))
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    f"UPDATE events SET payload = NULL WHERE kind IN ({marks}) AND ts < ?"
                    " AND payload IS NOT NULL AND hv = 2",
                    [*sorted(kinds), before.isoformat()],
                )
                count = cur.rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self.append_event(ev.LogCompacted(before=before, count=count, kinds=sorted(kinds)), ts=ts)
        return count


class GroupCommitter:
    """Group commit for asyncio producers: concurrent appends share one transaction/fsync.

    ``await append(...)`` returns once the event is durable. While one batch is being
    written (in a worker thread), new appends queue up and go in the next batch.
    """

    def __init__(self, log: EventLog, *, max_batch: int = 1000) -> None:
        self.log = log
        self.max_batch = max_batch
        self._queue: list[tuple[Pending, asyncio.Future[Event]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0

    async def append(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        ts: datetime,
        dispatch_id: str | None = None,
    ) -> Event:
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._queue.append((Pending(kind, payload, ts, dispatch_id), future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            try:
                written = await asyncio.to_thread(self.log.append_many, [p for p, _ in batch])
            except Exception as err:  # every waiter learns why its event is not durable
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            self.batches += 1
            for (_, future), event in zip(batch, written, strict=True):
                if not future.done():
                    future.set_result(event)

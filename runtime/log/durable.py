"""Opening the runtime's SQLite files the one durable way: WAL, synchronous=FULL, schema applied.

The event log, the dead-letter store and the API's user store each keep their own file; a
write they acknowledged must survive a power cut, and readers must not block the writer.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_durable(path: Path, schema: str, *, create_parent: bool = True) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), shareable across threads
    (each store serialises its own use with a lock), waiting up to 30 s for another writer."""
    if create_parent:
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(schema)
    return db

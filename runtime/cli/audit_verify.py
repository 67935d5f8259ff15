"""``gridaios audit verify``: the chain, erased payloads, the anchor; storage faults apart.

Exit 0 intact, 1 broken (chain, erased payload or cut tail), 3 the file cannot be read
(``runtime.audit_guard.EXIT_STORAGE``: corrupt, not a database, unreadable). The log is
opened read-only, so a read-only evidence copy can be verified.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from runtime.log.anchor import EXIT_STORAGE, check_anchor, default_anchor, storage_cause
from runtime.log.eventlog import EventLog


def verify(db: Path, anchor: Path | None) -> int:
    if anchor is None and default_anchor(db).is_file():
        anchor = default_anchor(db)
    if anchor is not None and not anchor.is_file():
        print(
            f"--anchor {anchor}: no such file; give the anchor the runtime wrote", file=sys.stderr
        )
        return 2
    try:
        log = EventLog(db, readonly=True)
        try:
            bad = log.verify()
            count = log.count()
            head, _ = log.head()
            checked = check_anchor(log.hash_at, head, anchor) if anchor is not None else None
        finally:
            log.close()
    except (sqlite3.DatabaseError, OSError) as err:
        cause = storage_cause(err) or f"cannot read it ({err})"
        print(f"{db}: storage error: {cause}; nothing verified", file=sys.stderr)
        return EXIT_STORAGE
    if bad is not None:
        print(f"{db}: chain broken at record {bad}", file=sys.stderr)
        return 1
    if checked is not None and not checked.ok:
        print(f"{db}: {checked.message}", file=sys.stderr)
        return 1
    print(f"{db}: chain intact ({count} events)")
    if checked is not None:
        print(checked.message)
    else:
        print(f"no anchor for {db}: a cut tail would not be detected (--anchor FILE)")
    return 0

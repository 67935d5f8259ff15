"""One line telling whoever starts a console where its users come from (issue #19 item 5)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def users_line(users: Path) -> str:
    """``console users: PATH (2 users)`` or how to add the first one; never creates the store."""
    count = _count(users)
    if count:
        return f"console users: {users} ({count} user{'s' if count != 1 else ''})"
    return (
        f"console users: {users} has no users yet; add one with "
        f"`gridaios users add NAME --role operator --users {users}`"
    )


def _count(users: Path) -> int:
    if not users.is_file():
        return 0
    try:
        con = sqlite3.connect(f"file:{users}?mode=ro", uri=True)
        try:
            row = con.execute("SELECT count(*) FROM users").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return 0
    return int(row[0]) if row else 0

"""The deduplication ledger: command keys already applied, on disk, fsynced.

One JSON line per applied key, appended and fsynced *before* the device is written, so
a key is applied at most once, also across a crash or SIGKILL: a restarted bridge that
finds the key answers ``duplicate`` and writes nothing. Keys whose ``valid_until`` has
passed are pruned on compaction; that is safe because such a command is refused as
``expired`` anyway.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gridaios_wire.jsonv1 import ProtocolError, format_ts, parse_ts

__all__ = ["Ledger", "LedgerEntry"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerEntry:
    key: str
    value_kw: float
    valid_until: datetime
    applied_at: datetime


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Ledger:
    def __init__(self, path: Path, *, fsync: bool = True, compact_every: int = 1000) -> None:
        self.path = path
        self.fsync = fsync
        self.compact_every = compact_every
        self.entries: dict[str, LedgerEntry] = {}
        self.skipped_lines = 0
        self._lines_in_file = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            self._load()
        self._file = path.open("a", encoding="utf-8")

    def _load(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            # A torn last line after a crash mid-append: that append never completed its
            # fsync, so its device write never happened either. Cut it off so the next
            # append starts on a line of its own.
            keep = data.rfind(b"\n") + 1
            log.warning("%s: torn last line (%d bytes) cut off", self.path, len(data) - keep)
            with self.path.open("r+b") as fh:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())
            self.skipped_lines += 1
        with self.path.open(encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, start=1):
                self._lines_in_file += 1
                try:
                    raw = json.loads(line)
                    entry = LedgerEntry(
                        key=str(raw["key"]),
                        value_kw=float(raw["value_kw"]),
                        valid_until=parse_ts(raw["valid_until"], "valid_until"),
                        applied_at=parse_ts(raw["applied_at"], "applied_at"),
                    )
                except (ValueError, KeyError, TypeError, ProtocolError) as err:
                    self.skipped_lines += 1
                    log.warning("%s:%d: unreadable ledger line skipped: %s", self.path, number, err)
                    continue
                self.entries[entry.key] = entry

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def record(self, entry: LedgerEntry) -> None:
        """Append and make it durable; returns only once it is on disk."""
        line = json.dumps(
            {
                "key": entry.key,
                "value_kw": entry.value_kw,
                "valid_until": format_ts(entry.valid_until),
                "applied_at": format_ts(entry.applied_at),
            },
            separators=(",", ":"),
        )
        self._file.write(line + "\n")
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        self.entries[entry.key] = entry
        self._lines_in_file += 1

    def should_compact(self) -> bool:
        return self._lines_in_file >= self.compact_every

    def compact(self, now_utc: datetime) -> int:
        """Drop keys whose valid_until has passed; rewrite atomically. Returns keys dropped."""
        keep = {k: e for k, e in self.entries.items() if e.valid_until > now_utc}
        dropped = len(self.entries) - len(keep)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for e in keep.values():
                fh.write(
                    json.dumps(
                        {
                            "key": e.key,
                            "value_kw": e.value_kw,
                            "valid_until": format_ts(e.valid_until),
                            "applied_at": format_ts(e.applied_at),
                        },
                        separators=(",", ":"),
                    )
                    + "\n"
                )
            fh.flush()
            os.fsync(fh.fileno())
        self._file.close()
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        self._file = self.path.open("a", encoding="utf-8")
        self.entries = keep
        self._lines_in_file = len(keep)
        # Next compaction when the file has doubled again (at least compact_every lines).
        self.compact_every = max(self.compact_every, 2 * len(keep))
        return dropped

    def close(self) -> None:
        self._file.close()

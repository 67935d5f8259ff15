"""Bad input kept for inspection: one JSON line per refused MQTT payload, bounded on disk."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

from gridaios_wire.jsonv1 import format_ts

__all__ = ["DeadLetters"]

log = logging.getLogger(__name__)
MAX_RAW_CHARS = 4096


class DeadLetters:
    """Appends to ``path``; past ``max_bytes`` the file rotates to ``path.1`` (one kept)."""

    def __init__(self, path: Path, max_bytes: int = 1_000_000) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.count = 0
        path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, now_utc: datetime, topic: str, error: str, raw: bytes) -> None:
        self.count += 1
        if self.count == 1 or self.count % 100 == 0:
            log.warning("refused payload on %s (%d so far): %s", topic, self.count, error)
        line = json.dumps(
            {
                "ts": format_ts(now_utc),
                "topic": topic,
                "error": error,
                "raw": raw[:MAX_RAW_CHARS].decode("utf-8", errors="replace"),
                "raw_bytes": len(raw),
            }
        )
        if self.path.exists() and self.path.stat().st_size > self.max_bytes:
            self.path.replace(self.path.with_name(self.path.name + ".1"))
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

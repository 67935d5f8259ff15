"""Store-and-forward for telemetry: every message is written here before it is sent.

One file per message, named by its sequence number, so the order on disk is the send
order and a restart resumes where it stopped. Bounded: past ``max_messages`` the
oldest is dropped and counted (``dropped_total``, persisted). The last sequence number
is persisted too, so ``seq`` never goes back across a restart.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path

__all__ = ["Spool"]

log = logging.getLogger(__name__)
_SUFFIX = ".msg"


class Spool:
    def __init__(self, directory: Path, *, max_messages: int, fsync: bool = True) -> None:
        self.dir = directory
        self.max_messages = max_messages
        self.fsync = fsync
        directory.mkdir(parents=True, exist_ok=True)
        self._state_path = directory / "state.json"
        seqs = sorted(int(p.stem) for p in directory.glob(f"*{_SUFFIX}") if p.stem.isdigit())
        self._queue: deque[int] = deque(seqs)
        last_seq, self.dropped_total = self._read_state()
        self.last_seq = max([last_seq, *seqs]) if seqs else last_seq
        for stale in directory.glob("*.tmp"):
            stale.unlink()

    def _read_state(self) -> tuple[int, int]:
        try:
            raw = json.loads(self._state_path.read_text(encoding="utf-8"))
            return int(raw["last_seq"]), int(raw["dropped_total"])
        except FileNotFoundError:
            return 0, 0
        except (ValueError, KeyError, TypeError) as err:
            log.warning(
                "%s unreadable (%s); seq restarts after the spooled messages", self.dir, err
            )
            return 0, 0

    def _path(self, seq: int) -> Path:
        return self.dir / f"{seq:016d}{_SUFFIX}"

    def _write_atomic(self, path: Path, data: bytes) -> None:
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)

    def __len__(self) -> int:
        return len(self._queue)

    def append(self, make_payload: Callable[[int], bytes]) -> int:
        """Spool the message built for the next seq; drop the oldest if over the bound."""
        seq = self.last_seq + 1
        self._write_atomic(self._path(seq), make_payload(seq))
        self.last_seq = seq
        self._queue.append(seq)
        while len(self._queue) > self.max_messages:
            oldest = self._queue.popleft()
            self._path(oldest).unlink(missing_ok=True)
            self.dropped_total += 1
            if self.dropped_total == 1 or self.dropped_total % 1000 == 0:
                log.warning(
                    "telemetry spool full (%d): dropped %d so far",
                    self.max_messages,
                    self.dropped_total,
                )
        state = {"last_seq": self.last_seq, "dropped_total": self.dropped_total}
        self._write_atomic(self._state_path, json.dumps(state).encode())
        return seq

    def oldest(self) -> tuple[int, bytes] | None:
        while self._queue:
            seq = self._queue[0]
            try:
                return seq, self._path(seq).read_bytes()
            except FileNotFoundError:
                self._queue.popleft()
        return None

    def remove(self, seq: int) -> None:
        """Delivered (PUBACK received): forget it. Only the oldest can be in flight."""
        if self._queue and self._queue[0] == seq:
            self._queue.popleft()
        self._path(seq).unlink(missing_ok=True)

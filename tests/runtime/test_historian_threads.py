"""The historian is written by the conductor's thread and flushed by others (the OpenADR
VEN's M&V flushes it before reading the meter, in its own thread): no sample may be lost
or crash a flush when both happen at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runtime.ingest.historian import Historian


def test_concurrent_add_and_flush_lose_nothing_and_never_raise(tmp_path: Path) -> None:
    hist = Historian(tmp_path / "h", batch_rows=1_000_000, max_buffer_rows=1_000_000)
    t0 = datetime(2026, 7, 15, tzinfo=UTC)
    n = 60_000
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for i in range(n):
                hist.add("substation.p_kw", t0 + timedelta(milliseconds=i), float(i))
        except BaseException as err:  # pragma: no cover - the failure being tested
            errors.append(err)
        finally:
            done.set()

    def flusher() -> None:
        try:
            while not done.is_set():
                hist.flush()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer), threading.Thread(target=flusher)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    hist.flush()
    assert errors == []
    frame = hist.read(point="substation.p_kw")
    assert frame.height == n
    assert frame["value"].n_unique() == n

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from runtime.core.errors import NotFound
from runtime.log.deadletter import DeadLetterError, DeadLetterStore, Status

T0 = datetime(2026, 7, 15, 17, 0, tzinfo=UTC)


def test_put_keeps_the_raw_bytes_and_the_reason(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path / "dlq.db")
    raw = b"\xff\x00not json"
    i = store.put("mqtt.payload", "site/bat1/telemetry", "not valid JSON at byte 0", raw, T0)
    entry = store.get(i)
    assert entry.payload == raw and entry.reason.startswith("not valid JSON")
    assert entry.status is Status.DEAD and entry.ts == T0
    assert [e.id for e in store.list()] == [i]


def test_retry_hands_the_entry_to_its_owner_once(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path / "dlq.db")
    a = store.put("dispatch", "field", "5 attempts failed", b"{}", T0)
    b = store.put("mqtt.payload", "t", "bad", b"x", T0)
    assert store.retry(a).status is Status.RETRY
    assert store.claim_retries("mqtt.payload") == []
    claimed = store.claim_retries("dispatch")
    assert [e.id for e in claimed] == [a] and claimed[0].retries == 1
    assert store.claim_retries("dispatch") == []
    assert store.get(a).status is Status.RETRIED
    store.drop(b)
    with pytest.raises(DeadLetterError, match="dropped"):
        store.retry(b)
    assert store.counts() == {"retried": 1, "dropped": 1}


def test_unknown_id_and_naive_time_are_refused(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path / "dlq.db")
    with pytest.raises(NotFound, match="dlq list"):
        store.get(42)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.put("k", "s", "r", b"", datetime(2026, 1, 1))


def test_entries_survive_a_reopen(tmp_path: Path) -> None:
    DeadLetterStore(tmp_path / "dlq.db").put("k", "s", "r", b"abc", T0)
    assert DeadLetterStore(tmp_path / "dlq.db").list()[0].payload == b"abc"

"""The dedup ledger on disk: durable, tolerant of a torn last line, pruned safely."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridaios_bridge.ledger import Ledger, LedgerEntry

NOW = datetime(2026, 7, 15, 18, 0, tzinfo=UTC)


def _entry(key: str, valid_for_s: float) -> LedgerEntry:
    return LedgerEntry(
        key=key, value_kw=1.0, valid_until=NOW + timedelta(seconds=valid_for_s), applied_at=NOW
    )


def test_keys_survive_reopen_and_a_torn_last_line_is_skipped(tmp_path):
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    ledger.record(_entry("a", 60))
    ledger.record(_entry("b", 60))
    ledger.close()
    with path.open("a") as fh:
        fh.write('{"key": "c", "value_kw"')  # a crash in the middle of an append
    reopened = Ledger(path)
    assert "a" in reopened and "b" in reopened and "c" not in reopened
    assert reopened.skipped_lines == 1
    reopened.record(_entry("d", 60))
    reopened.close()
    last = Ledger(path)
    assert set(last.entries) == {"a", "b", "d"} and last.skipped_lines == 0
    last.close()


def test_compaction_drops_only_expired_keys_and_is_durable(tmp_path):
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path, compact_every=3)
    ledger.record(_entry("old", -1))
    ledger.record(_entry("live", 60))
    assert not ledger.should_compact()
    ledger.record(_entry("older", -60))
    assert ledger.should_compact()
    assert ledger.compact(NOW) == 2
    ledger.record(_entry("new", 60))
    ledger.close()
    again = Ledger(path)
    again.close()
    assert set(again.entries) == {"live", "new"}
    assert len(path.read_text().splitlines()) == 2

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runtime.log import events as ev
from runtime.log.eventlog import EventLog, Pending, _digest_v1

T0 = datetime(2026, 7, 15, 17, 0, tzinfo=UTC)


def _fill(log: EventLog, n: int = 6) -> None:
    for i in range(n):
        log.append_event(
            ev.DispatchVerified(value=float(i)), ts=T0 + timedelta(seconds=i), dispatch_id=f"d{i}"
        )


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_intact_chain_verifies(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "e.db")
    _fill(log)
    assert log.verify() is None
    assert log.count() == 6


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        ("UPDATE events SET payload = replace(payload, '3.0', '4.0') WHERE seq = 4", 4),
        ("UPDATE events SET ts = '2026-07-15T18:00:00+00:00' WHERE seq = 2", 2),
        ("UPDATE events SET kind = 'dispatch.failed' WHERE seq = 5", 5),
        ("DELETE FROM events WHERE seq = 3", 3),
        # reordering: swap two records' contents, keeping their seq numbers
        (
            "UPDATE events SET payload = CASE seq WHEN 2 THEN (SELECT payload FROM events"
            " WHERE seq = 3) ELSE (SELECT payload FROM events WHERE seq = 2) END,"
            " payload_sha = CASE seq WHEN 2 THEN (SELECT payload_sha FROM events WHERE seq = 3)"
            " ELSE (SELECT payload_sha FROM events WHERE seq = 2) END WHERE seq IN (2, 3)",
            2,
        ),
    ],
)
def test_any_edit_deletion_or_reordering_names_the_first_bad_record(
    tmp_path: Path, tamper: str, first_bad: int
) -> None:
    path = tmp_path / "e.db"
    log = EventLog(path)
    _fill(log)
    _raw(path).execute(tamper)
    assert log.verify() == first_bad


def test_truncated_tail_is_detected_through_the_snapshot_anchor(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    log = EventLog(path)
    _fill(log)
    log.save_snapshot("p", 6, {"x": 1})
    _raw(path).execute("DELETE FROM events WHERE seq >= 5")
    assert log.verify() == 5


def test_known_kinds_are_validated_on_append(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "e.db")
    with pytest.raises(ev.EventSchemaError, match=r"dispatch\.verified"):
        log.append("dispatch.verified", {"value": "not a number"}, ts=T0)
    with pytest.raises(ev.EventSchemaError, match="v1"):
        log.append("dispatch.verified", {"value": 1.0, "v": 7}, ts=T0)
    assert log.count() == 0
    # a kind another package owns is stored and chained, untyped
    log.append("shadow.run", {"anything": [1, 2]}, ts=T0)
    (event,) = log.events()
    assert isinstance(event.typed(), ev.UntypedEvent)


def test_batch_append_is_one_chain(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "e.db")
    batch = [
        Pending("telemetry.sample", {"point": "m.p_kw", "value": float(i)}, T0, None)
        for i in range(100)
    ]
    out = log.append_many(batch, durable=False)
    assert [e.seq for e in out] == list(range(1, 101))
    assert log.verify() is None
    assert log.head() == (100, out[-1].hash)


def test_old_versions_are_upcast_on_read_and_old_hashes_still_verify(tmp_path: Path) -> None:
    """A skeleton (v1) log: hash over the payload text, no ``v``, old payload shapes."""
    path = tmp_path / "old.db"
    db = _raw(path)
    db.execute(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, kind TEXT NOT NULL,"
        " dispatch_id TEXT, payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)"
    )
    prev = "0" * 64
    old = [
        ("dispatch.sent", {"value": 50.0, "source": "field", "rollback_kw": 0.0}),
        ("dispatch.failed", {"reason": "timeout"}),
    ]
    for seq, (kind, payload) in enumerate(old, start=1):
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        ts = T0.isoformat()
        digest = _digest_v1(prev, seq, ts, kind, "d1", text)
        db.execute(
            "INSERT INTO events VALUES (?,?,?,?,?,?,?)", (seq, ts, kind, "d1", text, prev, digest)
        )
        prev = digest
    db.close()

    log = EventLog(path)  # migrates the table; old records keep hash v1
    log.append_event(ev.DispatchVerified(value=50.0), ts=T0, dispatch_id="d1")
    assert log.verify() is None
    sent, failed, _verified = log.events()
    typed = sent.typed()
    assert isinstance(typed, ev.DispatchSent)
    assert typed.attempt == 1 and typed.v == 2
    assert isinstance(failed.typed(), ev.DispatchFailed)
    assert failed.payload["retryable"] is False
    _raw(path).execute("UPDATE events SET payload = replace(payload, '50.0', '60.0') WHERE seq = 1")
    assert log.verify() == 1


def test_compaction_drops_telemetry_payloads_and_keeps_the_chain_verifiable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "e.db"
    log = EventLog(path)
    log.append_many(
        [
            Pending("telemetry.sample", {"point": "m.p_kw", "value": float(i)}, T0, None)
            for i in range(10)
        ]
    )
    log.append_event(ev.DispatchVerified(value=1.0), ts=T0, dispatch_id="d")
    count = log.compact(before=T0 + timedelta(days=1), ts=T0 + timedelta(days=2))
    assert count == 10
    events = list(log.events())
    assert all(e.compacted for e in events[:10])
    assert events[10].payload["value"] == 1.0  # control events keep their payload
    assert events[-1].kind == "log.compacted"
    assert log.verify() is None
    # a compacted record still cannot be edited unnoticed
    _raw(path).execute("UPDATE events SET ts = '2026-07-16T00:00:00+00:00' WHERE seq = 4")
    assert log.verify() == 4


def test_compaction_refuses_control_events(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "e.db")
    with pytest.raises(ValueError, match="not telemetry-grade"):
        log.compact(before=T0, ts=T0, kinds=frozenset({"dispatch.sent"}))


def test_snapshot_is_ignored_when_its_anchor_changed(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    log = EventLog(path)
    _fill(log)
    log.save_snapshot("p", 4, {"x": 1})
    assert log.load_snapshot("p") == (4, {"x": 1})
    _raw(path).execute("UPDATE events SET hash = 'f' || substr(hash, 2) WHERE seq = 4")
    assert log.load_snapshot("p") is None


def test_group_commit_shares_fsyncs_and_keeps_one_chain(tmp_path: Path) -> None:
    import asyncio

    from runtime.log.eventlog import GroupCommitter

    log = EventLog(tmp_path / "e.db")
    committer = GroupCommitter(log)

    async def producer(i: int) -> int:
        event = await committer.append(
            "dispatch.verified", {"value": float(i)}, ts=T0, dispatch_id=f"d{i}"
        )
        return event.seq

    async def main() -> list[int]:
        return await asyncio.gather(*(producer(i) for i in range(200)))

    seqs = asyncio.run(main())
    assert sorted(seqs) == list(range(1, 201))
    assert committer.batches < 200  # several producers per transaction
    assert log.verify() is None


def test_group_commit_reports_a_bad_event_to_its_producer(tmp_path: Path) -> None:
    import asyncio

    from runtime.log.eventlog import GroupCommitter

    committer = GroupCommitter(EventLog(tmp_path / "e.db"))

    async def main() -> None:
        await committer.append("dispatch.verified", {"value": "x"}, ts=T0)

    with pytest.raises(ev.EventSchemaError):
        asyncio.run(main())


def test_audit_compact_cli_keeps_the_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from runtime.cli import main

    path = tmp_path / "e.db"
    log = EventLog(path)
    log.append_many([Pending("telemetry.sample", {"point": "p", "value": 1.0}, T0)] * 5)
    _fill(log, 2)
    assert main(["audit", "compact", "--db", str(path), "--older-than-days", "1"]) == 0
    assert "5 telemetry payloads compacted" in capsys.readouterr().out
    assert main(["audit", "verify", "--db", str(path)]) == 0
    assert "chain intact (8 events)" in capsys.readouterr().out


def test_time_window_query_is_correct_across_utc_offsets(tmp_path: Path) -> None:
    from datetime import timezone

    log = EventLog(tmp_path / "e.db")
    cest = timezone(timedelta(hours=2))
    log.append("x.a", {}, ts=T0)
    log.append("x.b", {}, ts=(T0 + timedelta(hours=1)).astimezone(cest))  # 18:00 UTC, 20:00+02
    log.append("x.c", {}, ts=T0 + timedelta(hours=2))
    got = [
        e.kind
        for e in log.events(
            since=T0 + timedelta(minutes=30),
            until=T0.astimezone(cest) + timedelta(hours=1, minutes=30),
        )
    ]
    assert got == ["x.b"]


def test_events_are_read_in_pages_without_skipping_or_repeating(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "e.db")
    log.append_many([Pending("x.a" if i % 3 else "x.b", {"i": i}, T0) for i in range(25)])
    assert [e.payload["i"] for e in log.events(page=4)] == list(range(25))
    assert [e.payload["i"] for e in log.events(kinds=("x.b",), page=2)] == list(range(0, 25, 3))
    assert [e.seq for e in log.events(after_seq=20, page=3)] == [21, 22, 23, 24, 25]

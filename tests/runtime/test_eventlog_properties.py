"""Properties of the hash chain: any single tampering is found, at the record tampered."""

from __future__ import annotations

import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.log.eventlog import EventLog, Pending

T0 = datetime(2026, 7, 15, 17, 0, tzinfo=UTC)

payloads = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=4),
    st.one_of(st.integers(-1000, 1000), st.text(max_size=6), st.booleans()),
    max_size=3,
)


@settings(max_examples=40, deadline=None)
@given(
    bodies=st.lists(payloads, min_size=2, max_size=12),
    data=st.data(),
)
def test_any_single_tampering_is_found_at_that_record(
    bodies: list[dict[str, object]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "e.db"
        log = EventLog(path)
        log.append_many(
            [
                Pending("x.test", b, T0 + timedelta(seconds=i), f"d{i % 3}")
                for i, b in enumerate(bodies)
            ]
        )
        assert log.verify() is None
        seq = data.draw(st.integers(1, len(bodies)), label="record")
        how = data.draw(
            st.sampled_from(["payload", "ts", "kind", "dispatch_id", "delete", "swap_hash"]),
            label="tampering",
        )
        raw = sqlite3.connect(path, isolation_level=None)
        if how == "payload":
            raw.execute("UPDATE events SET payload = payload || ' ' WHERE seq = ?", (seq,))
        elif how == "ts":
            raw.execute("UPDATE events SET ts = ts || 'x' WHERE seq = ?", (seq,))
        elif how == "kind":
            raw.execute("UPDATE events SET kind = 'x.other' WHERE seq = ?", (seq,))
        elif how == "dispatch_id":
            raw.execute("UPDATE events SET dispatch_id = 'zz' WHERE seq = ?", (seq,))
        elif how == "delete":
            if seq == len(bodies):
                seq -= 1  # deleting the last record needs an anchor: see the snapshot test
            raw.execute("DELETE FROM events WHERE seq = ?", (seq,))
        else:  # recompute nothing, just claim another record's hash
            raw.execute(
                "UPDATE events SET hash = (SELECT hash FROM events WHERE seq = ?) WHERE seq = ?",
                (1 if seq != 1 else 2, seq),
            )
        raw.close()
        assert log.verify() == seq
        log.close()

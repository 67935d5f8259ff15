"""``find_event``: which days are other DR events' days (left out of the baseline)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from runtime.audit.dr_report import as_html, as_json, as_text, find_event
from runtime.decide.dr_mv import HighXOfY, verify
from runtime.log import events as ev
from runtime.log.eventlog import EventLog

VIA = "openadr2b:oadr://utility/summer-peak"


def _accept(log: EventLog, event_id: str, day: int, *, status: str = "active") -> None:
    body = {
        "event_id": event_id,
        "target_kw": 90.0,
        "start": datetime(2026, 7, day, 17, tzinfo=UTC).isoformat(),
        "end": datetime(2026, 7, day, 18, tzinfo=UTC).isoformat(),
        "targets": ["*"],
        "status": status,
    }
    log.append_event(
        ev.AgentDrEventAccepted(event_id=event_id, event=body, via=VIA),
        ts=datetime(2026, 7, day, 12, tzinfo=UTC),
    )


def test_a_later_cancelled_events_day_is_a_normal_day(tmp_path: Path) -> None:
    """ev-2 was accepted then cancelled before it ran: nothing was curtailed on 7-10, so
    that day counts for the baseline; ev-3 ran (never cancelled), its day stays out."""
    log = EventLog(tmp_path / "events.db")
    _accept(log, "ev-2.0", 10)
    _accept(log, "ev-3.0", 11)
    _accept(log, "ev-2.0", 10, status="cancelled")
    _accept(log, "ev-9.0", 13)
    window = find_event(log, "ev-9")
    log.close()
    assert window.event_days == frozenset({date(2026, 7, 11)})


def test_a_cancelled_then_reissued_events_day_stays_an_event_day(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.db")
    _accept(log, "ev-2.0", 10)
    _accept(log, "ev-2.0", 10, status="cancelled")
    _accept(log, "ev-2.0", 10)
    _accept(log, "ev-9.0", 13)
    window = find_event(log, "ev-9")
    log.close()
    assert window.event_days == frozenset({date(2026, 7, 10)})


def test_the_report_shows_a_baseline_on_fewer_days_than_y(tmp_path: Path) -> None:
    """`gridaios dr report` text, JSON and HTML flag a High X of Y on fewer than Y days."""
    from tests.runtime.test_dr_mv import EVENT_END, EVENT_START, H, _load

    log = EventLog(tmp_path / "events.db")
    _accept(log, "ev-9.0", 13)
    window = find_event(log, "ev-9")
    log.close()
    skip = frozenset({date(2026, 7, 6)})
    short = verify(HighXOfY(x=3, y=5), _load(), EVENT_START, EVENT_END, H, event_days=skip)
    text = as_text(window, short)
    assert "WARNING: only 4 eligible days of the 5 wanted" in text.splitlines()[2]
    assert as_json(window, short)["fewer_days_than_wanted"] is True
    assert "only 4 eligible days" in as_html(window, short)
    full = verify(HighXOfY(x=3, y=5), _load(), EVENT_START, EVENT_END, H)
    assert "WARNING" not in as_text(window, full) and "warning" not in as_html(window, full)

"""Alarms, the operator log and the handover over the real API (uvicorn, SQLite log).

Sources are real: a stale reading in the live state, three gate rejections in a row and an
expired approval in the log, the controller lost; each alarm change is an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from runtime.api import ApiContext
from runtime.core.clock import FixedClock
from runtime.log import events as ev
from runtime.log.eventlog import EventLog
from safety import Quality, Reading, StateSnapshot
from tests.api.support import add_users, call, served
from tests.runtime.test_approvals_workflow import request

T0 = datetime(2026, 7, 15, 19, 0, tzinfo=UTC)


def alarm_log(tmp_path: Path) -> tuple[Path, StateSnapshot]:
    """A log with three gate rejections in a row, an expired approval and the controller
    lost, and a live state with one stale reading."""
    db = tmp_path / "events.db"
    log = EventLog(db)
    request(log, "d-1", at=T0 - timedelta(minutes=30))
    log.append_event(
        ev.ApprovalExpired(reason="no decision"), ts=T0 - timedelta(minutes=10), dispatch_id="d-1"
    )
    for i in range(3):
        log.append_event(
            ev.DispatchGated(outcome="rejected", value=None, constraints=[]),
            ts=T0 - timedelta(minutes=5 - i),
        )
    log.append_event(
        ev.HierarchyControllerLost(site="s1", reason="no summary for 300 s", threshold_kw=1100),
        ts=T0 - timedelta(minutes=2),
    )
    log.close()
    stale = StateSnapshot(
        readings={
            "bat1.soc_pct": Reading(
                point="bat1.soc_pct",
                value=80.0,
                ts=T0 - timedelta(minutes=10),
                quality=Quality.GOOD,
            ),
            "bat1.p_kw": Reading(point="bat1.p_kw", value=0.0, ts=T0, quality=Quality.GOOD),
            "pv1.p_kw": Reading(
                point="pv1.p_kw", value=20.0, ts=T0 + timedelta(minutes=3), quality=Quality.GOOD
            ),
        }
    )
    return db, stale


def test_alarms_from_real_sources_ack_shelve_log_and_handover(tmp_path: Path) -> None:
    db, stale = alarm_log(tmp_path)
    tokens = add_users(tmp_path / "users.db")
    ctx = ApiContext(
        events_path=db,
        users_path=tmp_path / "users.db",
        state_provider=lambda: stale,
        clock=FixedClock(T0),
    )
    with served(ctx) as base:
        listed = call("GET", f"{base}/api/alarms", token=tokens["viewer"])
        assert listed.status == 200, listed.body
        alarms = {a["key"]: a for a in listed.json()}
        assert set(alarms) == {
            "data:bat1.soc_pct",
            "clock:pv1.p_kw",
            "gate:rejections",
            "approval:d-1",
            "hierarchy:controller",
        }
        assert alarms["data:bat1.soc_pct"]["priority"] == "high"
        assert alarms["data:bat1.soc_pct"]["state"] == "active, unacknowledged"
        assert listed.json()[0]["priority"] == "high"  # most urgent first
        again = call("GET", f"{base}/api/alarms", token=tokens["viewer"]).json()
        assert len(again) == 5  # raised once, not once per poll

        key = "gate:rejections"
        refused = call("POST", f"{base}/api/alarms/{key}/ack", token=tokens["viewer"], body={})
        assert refused.status == 403
        acked = call(
            "POST",
            f"{base}/api/alarms/{key}/ack",
            token=tokens["operator"],
            body={"reason": "seen"},
        )
        assert acked.status == 200 and acked.json()["acked_by"] == "operator"
        no_reason = call(
            "POST",
            f"{base}/api/alarms/data:bat1.soc_pct/shelve",
            token=tokens["operator"],
            body={"reason": " ", "minutes": 30},
        )
        assert no_reason.status == 422
        shelved = call(
            "POST",
            f"{base}/api/alarms/data:bat1.soc_pct/shelve",
            token=tokens["operator"],
            body={"reason": "sensor being replaced", "minutes": 30},
        )
        assert shelved.status == 200 and shelved.json()["shelved"] is True
        shown = [a["key"] for a in call("GET", f"{base}/api/alarms", token=tokens["viewer"]).json()]
        assert "data:bat1.soc_pct" not in shown
        missing = call("POST", f"{base}/api/alarms/nope/ack", token=tokens["operator"], body={})
        assert missing.status == 404 and "GET /api/alarms" in missing.json()["detail"]

        note = call(
            "POST",
            f"{base}/api/log",
            token=tokens["operator"],
            body={"text": "bat1 SoC sensor swap at 19:30"},
        )
        assert note.status == 201
        notes = call("GET", f"{base}/api/log", token=tokens["viewer"]).json()
        assert notes[0]["author"] == "operator" and "sensor swap" in notes[0]["text"]
        summary = call("GET", f"{base}/api/handover", token=tokens["viewer"]).json()
        assert {a["key"] for a in summary["alarms"]} >= {"gate:rejections", "hierarchy:controller"}
        assert summary["notes"][0]["text"] == "bat1 SoC sensor swap at 19:30"

    log = EventLog(db, readonly=True)
    kinds = [
        e.kind
        for e in log.events(
            kinds=("alarm.raised", "alarm.acknowledged", "alarm.shelved", "operator.note")
        )
    ]
    log.close()
    assert kinds.count("alarm.raised") == 5
    assert kinds.count("alarm.acknowledged") == 1 and kinds.count("alarm.shelved") == 1
    assert kinds.count("operator.note") == 1

"""An approval request recorded before plan binding (approval.requested v1), over the API:
the API says it has no plan_hash (null, never one it derived) and it can be approved with
``"plan_hash": null`` (the body must still carry the key: 422 without it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from runtime.api import ApiContext
from runtime.approvals import book as approvals
from runtime.core.clock import FixedClock
from runtime.log import events as ev
from runtime.log.eventlog import EventLog, Pending
from tests.api.support import add_users, call, served

T0 = datetime(2026, 7, 15, 18, 45, tzinfo=UTC)


def test_a_v1_request_shows_no_plan_hash_and_is_approved_with_null(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.db")
    command = ev.CommandBody(
        key="old",
        asset="bat1",
        kind="active_power_kw",
        value=180.0,
        start=T0,
        end=T0 + timedelta(minutes=15),
        origin="agent",
    )
    log.append_event(
        ev.DispatchProposed(
            command=command,
            policy="peak_shaving",
            rationale="feeder import above the threshold",
            snapshot={},
            rollback_kw=20.0,
            last_setpoint_kw=20.0,
        ),
        ts=T0,
        dispatch_id="old",
    )
    log.append_event(
        ev.DispatchGated(outcome="clamped", value=150.0, constraints=[]), ts=T0, dispatch_id="old"
    )
    log.append_event(
        ev.DispatchSimulated(
            ok=True,
            summary="no violations",
            violations=[],
            steps=3,
            step_s=300,
            peak_kw_plan=1180.0,
            peak_kw_baseline=1330.0,
            energy_shifted_kwh=37.5,
        ),
        ts=T0,
        dispatch_id="old",
    )
    old = {
        "v": 1,
        "requirement": "one_operator",
        "expires_at": (T0 + timedelta(minutes=15)).isoformat(),
        "asset": "bat1",
        "value": 150.0,
        "rationale": "feeder import above the threshold",
        "simulation": "ok",
    }
    log.append_many([Pending("approval.requested", old, T0, "old")], validate=False)
    tokens = add_users(tmp_path / "users.db")
    ctx = ApiContext(
        events_path=tmp_path / "events.db",
        users_path=tmp_path / "users.db",
        clock=FixedClock(T0 + timedelta(minutes=1)),
    )
    with served(ctx) as base:
        (item,) = call("GET", f"{base}/api/approvals", token=tokens["viewer"]).json()
        assert item["dispatch_id"] == "old" and item["plan_hash"] is None
        detail = call("GET", f"{base}/api/approvals/old", token=tokens["viewer"])
        assert detail.status == 200, detail.body
        d = detail.json()
        assert d["plan_hash"] is None and d["status"] == "pending"
        # the plan it was asked for: the proposal at the value the gate allowed
        assert [(c["key"], c["value_kw"]) for c in d["plan"]] == [("old", 150.0)]
        assert d["proposed_by"] == "" and d["rollback_kw"] == 20.0
        assert d["simulation"]["peak_kw_baseline"] == 1330.0 and d["verdicts"][0]["seq"] == 2
        approve = f"{base}/api/approvals/old/approve"
        missing = call("POST", approve, token=tokens["operator"], body={"reason": "ok"})
        assert missing.status == 422, "the body must say which plan it approves, even null"
        done = call(
            "POST", approve, token=tokens["operator"], body={"plan_hash": None, "reason": "ok"}
        )
        assert done.status == 200 and done.json()["status"] == "approved"
    assert approvals.find_pending(log, "old").approvers == ("operator",)
    log.close()

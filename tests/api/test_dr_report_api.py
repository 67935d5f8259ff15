"""GET /api/dr/events/{id}/report: the M&V figures of docs/dr.md's worked example."""

from __future__ import annotations

from pathlib import Path

from runtime.api import ApiContext
from runtime.config.load import load_config
from runtime.core.clock import FixedClock
from tests.api.support import add_users, call, served
from tests.runtime.test_cli_dr import _setup


def test_the_console_api_serves_the_mv_of_an_event(tmp_path: Path) -> None:
    db, history, config = _setup(tmp_path)
    tokens = add_users(tmp_path / "users.db")
    ctx = ApiContext(
        events_path=db,
        users_path=tmp_path / "users.db",
        config=load_config(config),
        history_dir=history,
    )
    with served(ctx) as base:
        got = call("GET", base + "/api/dr/events/ev-77/report", token=tokens["viewer"])
        assert got.status == 200, got.json()
        body = got.json()
        assert [i["baseline_kw"] for i in body["intervals"]] == [143.0, 154.0]
        assert body["delivered_kwh"] == 90.0 and body["shortfall_kwh"] == 10.0
        missing = call("GET", base + "/api/dr/events/nope/report", token=tokens["viewer"])
        assert missing.status == 404 and "not in the event log" in missing.json()["detail"]
        assert call("GET", base + "/api/dr/events/ev-77/report").status == 401


async def test_an_opt_in_request_is_decided_in_the_console_api(tmp_path: Path) -> None:
    import asyncio

    from runtime.approvals.dr_optin import OptInDesk, dispatch_id
    from runtime.log.eventlog import EventLog
    from tests.runtime.test_dr_optin import T0, _config, _event

    tokens = add_users(tmp_path / "users.db")
    ctx = ApiContext(  # the runtime's clock (grants are checked against expiry on it)
        events_path=tmp_path / "events.db",
        users_path=tmp_path / "users.db",
        clock=FixedClock(T0),
    )
    log = EventLog(tmp_path / "events.db")
    desk = OptInDesk(
        log, _config(), clock=lambda: T0, flexibility_kw=240, asset="bat1", poll_s=0.05
    )
    did = dispatch_id(_event())
    with served(ctx) as base:
        task = asyncio.create_task(desk(_event()))
        for _ in range(100):
            listed = await asyncio.to_thread(
                call, "GET", base + "/api/approvals", token=tokens["viewer"]
            )
            if any(item["dispatch_id"] == did for item in listed.json()):
                break
            await asyncio.sleep(0.05)
        shown = await asyncio.to_thread(
            call, "GET", base + f"/api/approvals/{did}", token=tokens["viewer"]
        )
        assert shown.status == 200, shown.json()
        plan_hash = shown.json()["plan_hash"]
        done = await asyncio.to_thread(
            call,
            "POST",
            base + f"/api/approvals/{did}/approve",
            token=tokens["operator"],
            body={"reason": "crew ready", "plan_hash": plan_hash},
        )
        assert done.status == 200, done.json()
        assert await asyncio.wait_for(task, 20) == "optIn"
    log.close()

"""GET /api/dr/events/{id}/report: the M&V figures of docs/dr.md's worked example."""

from __future__ import annotations

from pathlib import Path

from runtime.api import ApiContext
from runtime.config.model import load_config
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

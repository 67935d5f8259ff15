"""State without a conductor (the historian's latest values), sparkline history, forecasts,
audit search and verification, dead letters and shadow reports."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl

from runtime.api import ApiContext
from runtime.api.routes_state import forecast_file
from runtime.config.model import load_config
from runtime.core.clock import FixedClock
from runtime.ingest.historian import Historian
from runtime.log.deadletter import DeadLetterStore
from runtime.log.eventlog import EventLog
from tests.api.support import add_users, call, served
from tests.api.test_auth import T0

REPO = Path(__file__).resolve().parents[2]


def test_historian_state_history_forecasts(tmp_path: Path) -> None:
    tokens = add_users(tmp_path / "users.db")
    history = Historian(tmp_path / "history")
    for minute in range(30):
        ts = T0 - timedelta(minutes=30 - minute)
        history.add("substation.p_kw", ts, 1000.0 + minute)
        history.add("bat1.soc_pct", ts, 80.0 - minute / 10)
    history.add("substation.p_kw", T0 - timedelta(hours=3), 5.0)  # outside the window
    history.flush()
    forecasts = tmp_path / "forecast.parquet"
    pl.DataFrame(
        {
            "unique_id": ["substation.p_kw"] * 2 + ["pv1.p_kw"],
            "ds": [T0 + timedelta(minutes=15 * i) for i in (1, 2, 1)],
            "model": ["AutoETS"] * 3,
            "yhat": [1100.0, 1150.0, 20.0],
            "lo_80": [1050.0, 1080.0, 5.0],
            "hi_80": [1150.0, 1220.0, 40.0],
        }
    ).write_parquet(forecasts)
    ctx = ApiContext(
        events_path=tmp_path / "events.db",
        users_path=tmp_path / "users.db",
        config=load_config(REPO / "configs" / "demo-feeder.yaml"),
        history_dir=tmp_path / "history",
        forecast_provider=lambda: forecast_file(forecasts),
        clock=FixedClock(T0),
    )
    with served(ctx) as base:
        state = call("GET", f"{base}/api/state", token=tokens["viewer"]).json()
        assert state["source"] == "historian"
        points = {p["point"]: p for p in state["points"]}
        assert points["substation.p_kw"]["value"] == 1029.0
        assert points["substation.p_kw"]["unit"] == "kW" and points["bat1.soc_pct"]["unit"] == "%"
        assert points["substation.p_kw"]["age_s"] == 60.0
        spark = call(
            "GET",
            f"{base}/api/state/history?point=substation.p_kw&minutes=10",
            token=tokens["viewer"],
        ).json()
        assert [s["value"] for s in spark["samples"]] == [1020.0 + i for i in range(10)]
        fc = call("GET", f"{base}/api/forecasts", token=tokens["viewer"]).json()["series"]
        assert [s["unique_id"] for s in fc] == ["pv1.p_kw", "substation.p_kw"]
        assert fc[1]["points"][1] == {
            "ds": "2026-07-15T18:30:00Z",
            "yhat": 1150.0,
            "lo80": 1080.0,
            "hi80": 1220.0,
        }
    assert forecast_file(tmp_path / "missing.parquet") == []


def test_audit_search_verify_dead_letters_shadow(tmp_path: Path) -> None:
    tokens = add_users(tmp_path / "users.db")
    log = EventLog(tmp_path / "events.db")
    log.append("health.changed", {"service": "conductor", "state": "ready"}, ts=T0)
    log.append("dispatch.rejected", {"reason": "ramp 100%_limit"}, ts=T0, dispatch_id="d-1")
    log.append("health.changed", {"service": "api", "state": "ready"}, ts=T0)
    log.close()
    dlq = DeadLetterStore(tmp_path / "dlq.db")
    dlq_id = dlq.put("sample", "field", "value None is not a number", b"\xffraw", T0)
    dlq.drop(dlq.put("sample", "field", "dropped one", b"x", T0))
    dlq.close()
    (tmp_path / "shadow").mkdir()
    (tmp_path / "shadow" / "candidate.html").write_text("<h1>shadow</h1>")
    (tmp_path / "shadow" / "notes.txt").write_text("not a report")
    ctx = ApiContext(
        events_path=tmp_path / "events.db",
        users_path=tmp_path / "users.db",
        dlq_path=tmp_path / "dlq.db",
        shadow_dir=tmp_path / "shadow",
    )
    with served(ctx) as base:
        eng = tokens["engineer"]

        def get(path: str) -> object:
            reply = call("GET", base + path, token=eng)
            assert reply.status == 200, (path, reply.body)
            return reply.json()

        assert [e["seq"] for e in get("/api/events?kind=health.*")] == [1, 3]  # type: ignore[index]
        assert [e["seq"] for e in get("/api/events?q=100%25_limit")] == [2]  # type: ignore[index]
        assert [e["seq"] for e in get("/api/events?q=100%25_x")] == []  # type: ignore[index]
        assert [e["seq"] for e in get("/api/events?after_seq=1&limit=1")] == [2]  # type: ignore[index]
        assert [e["seq"] for e in get("/api/events?limit=2")] == [2, 3]  # type: ignore[index]
        assert get("/api/events?dispatch_id=d-1")[0]["hash"]  # type: ignore[index]
        assert get("/api/audit/verify") == {"ok": True, "events": 3, "first_bad_seq": None}
        letters = get("/api/deadletters?status=dead")
        assert [d["id"] for d in letters] == [dlq_id]  # type: ignore[attr-defined]
        retried = call("POST", f"{base}/api/deadletters/{dlq_id}/retry", token=eng)
        assert retried.status == 200 and retried.json()["status"] == "retry"
        assert call("POST", f"{base}/api/deadletters/2/retry", token=eng).status == 409
        (report,) = get("/api/shadow/reports")  # type: ignore[misc]
        assert report["name"] == "candidate.html"
        page = call("GET", base + report["url"], token=eng)
        assert page.status == 200 and b"<h1>shadow</h1>" in page.body
        assert page.headers["content-type"].startswith("text/html")
        for bad in ("notes.txt", "..%2Fevents.db", "%2E%2E"):
            assert call("GET", f"{base}/api/shadow/reports/{bad}", token=eng).status == 404

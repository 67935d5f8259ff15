"""DR events over the API: checked at once (422 with the reason), queued into the running
conductor (202), recorded by its next cycle as coming from the API; 503 without a conductor."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runtime.api import ApiContext, Listen
from runtime.api.hosting import conductor_app
from tests.api.support import add_users, call, served
from tests.integration.test_skeleton import rig

pytestmark = [pytest.mark.integration, pytest.mark.slow]
URL = "/api/dr/events"


def event(now: datetime, **changes: Any) -> dict[str, Any]:
    body = {
        "event_id": "util-42",
        "target_kw": 900.0,
        "start": (now + timedelta(minutes=5)).isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
        "targets": ["bat1"],
    }
    return {**body, **changes}


async def test_a_dr_event_goes_to_the_conductor_and_is_recorded_as_from_the_api(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path) as r:
        tokens = add_users(tmp_path / "users.db")
        app = conductor_app(r.conductor, Listen("127.0.0.1", 0), users_path=tmp_path / "users.db")
        now = r.clock()
        with served(app) as base:

            def post(body: object, role: str = "operator") -> Any:
                return call("POST", base + URL, token=tokens[role], body=body)

            denied = await asyncio.to_thread(post, event(now), "viewer")
            assert denied.status == 403
            both = await asyncio.to_thread(post, event(now, signal_level=2))
            assert both.status == 422
            assert "exactly one of signal_level" in both.json()["detail"]
            unknown = await asyncio.to_thread(post, event(now, targets=["bat9"]))
            assert unknown.status == 422 and "bat9" in unknown.json()["detail"]
            assert "known: " in unknown.json()["detail"]
            not_object = await asyncio.to_thread(post, "shed load")
            assert not_object.status == 422 and "JSON object" in not_object.json()["detail"]
            ended = await asyncio.to_thread(
                post, event(now, start=(now - timedelta(hours=2)).isoformat(),
                            end=(now - timedelta(hours=1)).isoformat())
            )  # fmt: skip
            assert ended.status == 422 and "already ended" in ended.json()["detail"]

            queued = await asyncio.to_thread(post, event(now))
            assert queued.status == 202 and queued.json() == {"status": "queued"}
        assert not list(r.events.events(kinds=("agent.dr_event_rejected",)))
        await r.conductor.cycle(r.clock())
        (accepted,) = list(r.events.events(kinds=("agent.dr_event_accepted",)))
        assert accepted.payload["via"] == "api" and accepted.payload["event_id"] == "util-42"
        assert accepted.payload["event"]["target_kw"] == 900.0


def test_without_a_conductor_a_valid_event_gets_503_and_a_bad_one_422(tmp_path: Path) -> None:
    tokens = add_users(tmp_path / "users.db")
    ctx = ApiContext(events_path=tmp_path / "events.db", users_path=tmp_path / "users.db")
    now = ctx.clock()
    with served(ctx) as base:
        valid = call("POST", base + URL, token=tokens["operator"], body=event(now))
        assert valid.status == 503 and "gridaios run" in valid.json()["detail"]
        bad = call("POST", base + URL, token=tokens["operator"], body=event(now, end="soon"))
        assert bad.status == 422 and "dr event end" in bad.json()["detail"]
        anonymous = call("POST", base + URL, body=event(now))
        assert anonymous.status == 401

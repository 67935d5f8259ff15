"""The console's Ask view in the real browser: a read-back confirmed before it is proposed.

A real API (uvicorn) over the words fixture's SQLite log; the operator types a request,
sees the read-back and the gate's preview, confirms, and the request is queued as them.
The dispatch detail shows the decision in sentences.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.api import ApiContext
from runtime.config.model import load_config
from runtime.core.clock import FixedClock
from runtime.log.eventlog import EventLog
from tests.api.support import PASSWORD, add_users, served
from tests.browser.conftest import needs_chromium
from tests.words import fixture as F

pytestmark = [needs_chromium, pytest.mark.browser]
REPO = Path(__file__).resolve().parents[2]


def test_operator_confirms_the_read_back_then_it_is_queued(tmp_path: Path, page: Any) -> None:
    F.build(tmp_path / "events.db").close()
    add_users(tmp_path / "users.db")
    ctx = ApiContext(
        events_path=tmp_path / "events.db",
        users_path=tmp_path / "users.db",
        config=load_config(REPO / "configs" / "demo-feeder.yaml"),
        clock=FixedClock(F.NOW),
    )
    with served(ctx) as base:
        page.goto(base + "/")
        page.fill("#username", "operator")
        page.fill("#password", PASSWORD)
        page.click("#login-button")
        page.wait_for_selector("#nav")
        page.goto(base + "/#/ask")
        page.fill("#ask-text", "chrage the community battery 60kw for 45 minutes")
        page.press("#ask-text", "Enter")
        readback = page.wait_for_selector("#ask-readback").inner_text()
        assert "charge bat1" in readback and "setpoint -60 kW" in readback
        assert "15:55 UTC" in readback
        log = EventLog(tmp_path / "events.db")
        assert not list(log.events(kinds=("agent.intent_requested",)))  # not before confirming
        page.click("#ask-confirm")
        assert "Queued as request" in page.wait_for_selector("#ask-queued").inner_text()
        (queued,) = [e.payload for e in log.events(kinds=("agent.intent_requested",))]
        log.close()
        assert queued["user"] == "operator" and queued["intent"]["value"] == -60.0
        page.fill("#ask-text", "SoC of bat1?")
        page.press("#ask-text", "Enter")
        assert "62.4 %" in page.wait_for_selector("#ask-reply").inner_text()
        page.goto(f"{base}/#/dispatches/{F.DISPATCH_A}")
        said = page.wait_for_selector("#explain-narrative").inner_text()
        assert "proposed to discharge bat1 at 180 kW" in said and "alice approved it" in said

"""Alarms, the shift log and handover, the dark theme, keyboard operation and an axe-core
accessibility check, in headless Chromium against the real API (uvicorn, SQLite log).

The log holds real alarm sources (three gate rejections in a row, an expired approval, the
controller lost) and the live state a stale reading. axe-core comes from the npm registry,
pinned by tests/browser/axe/package-lock.json (``make interop`` installs it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.api import ApiContext
from runtime.core.clock import FixedClock
from tests.api.support import PASSWORD, add_users, served
from tests.api.test_alarms_api import T0, alarm_log
from tests.browser.conftest import needs_chromium
from tests.browser.shots import shot

pytestmark = [needs_chromium, pytest.mark.browser, pytest.mark.integration]

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"


def axe_serious(page: Any) -> list[str]:
    """Serious and critical axe-core violations on the page as it is now."""
    # evaluated over the DevTools protocol: the console's CSP (script-src 'self') rightly
    # refuses an injected inline <script>, and axe is the test's tool, not the page's
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, { resultTypes: ["violations"] });
            return r.violations
                .filter((v) => v.impact === "serious" || v.impact === "critical")
                .map((v) => `${v.id}: ${v.help} (${v.nodes.length}x: ${v.nodes[0].target})`);
        }"""
    )
    return list(result)


@pytest.mark.skipif(not AXE.exists(), reason=f"{AXE} missing: run `make interop` (npm ci)")
def test_alarms_shift_log_dark_theme_keys_and_accessibility(
    tmp_path: Path, page: Any, page_errors: list[str]
) -> None:
    from playwright.sync_api import expect

    db, stale = alarm_log(tmp_path)
    add_users(tmp_path / "users.db")
    ctx = ApiContext(
        events_path=db,
        users_path=tmp_path / "users.db",
        state_provider=lambda: stale,
        clock=FixedClock(T0),
    )
    with served(ctx) as base:
        page.goto(base + "/")
        page.fill("#username", "operator")
        page.fill("#password", PASSWORD)
        page.press("#password", "Enter")  # the keyboard logs in too
        expect(page.locator("#who")).to_have_text("operator (operator)")
        assert axe_serious(page) == []

        page.locator("body").press("l")  # keyboard: l opens the alarms
        expect(page).to_have_url(base + "/#/alarms")
        rows = page.locator("#alarms-table tbody tr")
        expect(rows).to_have_count(5)
        expect(rows.first).to_have_class("alarm high active unacked")
        expect(page.locator("#alarm-count")).to_have_text("5")
        expect(page.locator("#alarms-table")).to_contain_text("the safety gate rejected the last 3")
        expect(page.locator("#alarms-table")).to_contain_text("controller lost")
        shot(page, "alarms")
        assert axe_serious(page) == []

        gate = page.locator('tr[data-key="gate:rejections"]')
        gate.locator(".alarm-reason").fill("seen; checking the envelope")
        gate.locator(".ack-button").click()
        expect(gate.locator(".alarm-state")).to_contain_text("active, acknowledged")
        expect(gate.locator(".alarm-state")).to_contain_text("by operator")
        stale_row = page.locator('tr[data-key="data:bat1.soc_pct"]')
        stale_row.locator(".shelve-button").click()
        expect(page.locator("#alarm-error")).to_contain_text("Shelving needs a reason")
        stale_row.locator(".alarm-reason").fill("sensor being replaced")
        stale_row.locator(".shelve-button").click()
        expect(page.locator('tr[data-key="data:bat1.soc_pct"]')).to_have_count(0)

        page.locator("body").press("h")
        expect(page).to_have_url(base + "/#/shift")
        page.fill("#log-text", "bat1 SoC sensor replaced at 19:30; alarm shelved 15 min")
        page.click("#log-add")
        expect(page.locator("#log-entries")).to_contain_text("operator: bat1 SoC sensor replaced")
        expect(page.locator("#handover")).to_contain_text("Open alarms (4)")
        expect(page.locator("#handover")).to_contain_text("Log entries (1)")
        assert axe_serious(page) == []
        shot(page, "shift-handover")

        page.click("#theme-toggle")
        expect(page.locator("html")).to_have_class("dark")
        page.locator("body").press("l")
        expect(rows).to_have_count(4)
        shot(page, "alarms-dark")
        assert axe_serious(page) == []
        page.locator("body").press("s")
        expect(page.locator('#state-rows tr[data-point="bat1.soc_pct"]')).to_have_class("bad")
        assert axe_serious(page) == []
        page.reload()  # the theme is remembered
        expect(page.locator("html")).to_have_class("dark")
    assert page_errors == []

"""Issue #19 item 1: when the console loses its runtime, everything it shows turns stale.

The real demo serves the console; the test kills the runtime process outright (as a crash
would) and watches the page: every live value must turn visibly stale with an age that keeps
counting, and the pending-approvals count must stop claiming a number it cannot know.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import PASSWORDS, needs_chromium
from tests.browser.demo_process import Demo
from tests.browser.shots import shot
from tests.browser.test_console import login

pytestmark = [
    needs_chromium,
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(600),
]


def _age_s(text: str) -> int:
    m = re.search(r"(?:(\d+) min )?(\d+) s old", text)
    assert m, f"no age in {text!r}"
    return int(m.group(1) or 0) * 60 + int(m.group(2))


def test_a_dead_runtime_turns_every_value_stale(
    demo: Demo, page: Any, page_errors: list[str]
) -> None:
    from playwright.sync_api import expect

    login(page, demo, "olga", PASSWORDS["olga"])
    expect(page.locator("#who")).to_have_text("olga (operator)")
    page.goto(demo.url + "/#/state")
    rows = page.locator("#state-rows tr")
    expect(rows.first).to_be_visible(timeout=120_000)
    expect(page.locator("#state-rows tr.stale")).to_have_count(0)

    demo.process.kill()  # SIGKILL: no goodbye from the runtime
    demo.process.wait(timeout=30)

    n = rows.count()
    assert n > 0
    expect(page.locator("#state-rows tr.stale")).to_have_count(n, timeout=30_000)
    expect(page.locator("#state-now")).to_contain_text("NO CONTACT with the runtime")
    expect(page.locator("#pending-count")).to_have_text("?", timeout=15_000)
    expect(page.locator("#health")).to_contain_text("runtime unreachable")
    first = rows.first.locator("td").nth(3)
    expect(first).to_contain_text("STALE: runtime unreachable")
    before = _age_s(first.inner_text())
    page.wait_for_timeout(3_000)
    after = _age_s(first.inner_text())
    assert after >= before + 2, (before, after)  # the age keeps counting without the runtime
    assert "good" not in page.locator("#state-rows").inner_text()
    shot(page, "link-lost-state")
    assert page_errors == []

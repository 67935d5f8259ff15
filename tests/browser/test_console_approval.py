"""Issue #19 items 3-4 in the browser: an approval whose timing and stakes are stated, and
the single-line diagram with the pending plan overlaid.

The countdown ticks, the page says what happens if nobody acts by when, what is at stake
(which peak is which, the threshold as a target and not a grid limit, the setpoint as
"discharge N kW"), the tab title carries the pending count, and after the operator's own
approval the badge says approved.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import PASSWORDS, needs_chromium
from tests.browser.demo_process import Demo
from tests.browser.shots import shot
from tests.browser.test_console import login, open_the_approval

pytestmark = [
    needs_chromium,
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(900),
]


def test_the_approval_states_its_timing_and_stakes(
    demo: Demo, page: Any, page_errors: list[str]
) -> None:
    from playwright.sync_api import expect

    login(page, demo, "olga", PASSWORDS["olga"])
    expect(page.locator("#who")).to_have_text("olga (operator)")
    open_the_approval(page, demo)

    countdown = page.locator("#expires-in")
    expect(countdown).to_contain_text("in ")
    first = countdown.inner_text()
    page.wait_for_function(
        "(t) => document.querySelector('#expires-in').textContent !== t", arg=first, timeout=10_000
    )  # it ticks on its own, without a reload

    expect(page.locator("#do-nothing")).to_contain_text("If nobody acts by")
    expect(page.locator("#do-nothing")).to_contain_text("UTC: the request expires, nothing is sent")
    expect(page.locator("#stakes-setpoint")).to_contain_text("discharge")
    expect(page.locator("#plan-lead")).to_contain_text("discharge")
    expect(page.locator("#plan-table")).to_contain_text("discharge")
    expect(page.locator("#threshold-meaning")).to_contain_text("peak-shaving target")
    expect(page.locator("#threshold-meaning")).to_contain_text("not a grid limit")
    expect(page.locator("#peaks tbody tr")).to_have_count(3)  # measured, simulation, power flow
    expect(page.locator("#not-acting")).to_contain_text("transformer rating")
    expect(page.locator("#history")).to_be_visible()
    page.wait_for_function("() => document.title.startsWith('(1) approval pending')")
    icon = page.locator("link[rel=icon]").get_attribute("href") or ""
    assert icon.startswith("data:image/png")
    shot(page, "approval-detail")

    # the single-line diagram: the network model with live values and the plan overlaid
    approval_url = page.url
    page.goto(demo.url + "/#/diagram")
    sld = page.locator("#sld")
    expect(sld).to_be_visible()
    expect(sld.locator("g.sld-bus")).to_have_count(8)  # grid, sub, n1..n6
    expect(sld.locator("circle.sld-tx")).to_have_count(2)  # the transformer T1
    expect(sld.locator('g[data-asset="bat1"]')).to_contain_text("measured")
    expect(sld.locator('g[data-asset="bat1"]')).to_contain_text("plan discharge")
    expect(sld.locator("#sld-import")).to_contain_text("target 1,100")
    shot(page, "single-line-diagram")

    # trends: the feeder import with its target and limit lines, zoomable to days
    page.goto(demo.url + "/#/trends")
    expect(page.locator("svg.trend")).to_be_visible()
    expect(page.locator("svg.trend text.limit-label.threshold")).to_contain_text("1,100 kW")
    expect(page.locator("svg.trend text.limit-label.limit")).to_contain_text("1,600 kW")
    page.select_option("#trend-range", "10080")
    expect(page.locator("svg.trend")).to_contain_text("07-")  # day and time on a 7-day axis
    expect(page.locator("#trend-note")).to_contain_text("samples")
    shot(page, "trends")
    page.goto(approval_url)
    expect(page.locator("#approve-button")).to_be_visible()

    page.fill("#decision-reason", "evening peak; battery charged")
    page.click("#approve-button")
    expect(page.locator("#decision-result .ok")).to_contain_text("Approved")
    expect(page.locator("#approval-status")).to_have_text("approved")
    expect(page.locator("#approved-so-far")).to_contain_text("1 of 1: olga")
    assert page_errors == []

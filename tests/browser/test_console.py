"""The operator console in headless Chromium against the real demo (runtime, API, virtual field).

An operator logs in through the page, opens the approval the simulator's evening peak
created, reads its plot and reasons, approves it, and follows the dispatch to the
device. A viewer can read but not decide; a wrong password is refused with a message.
Every wait is a condition with a deadline (the demo runs on a shared, slow machine).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from tests.browser.conftest import PASSWORDS, needs_chromium
from tests.browser.demo_process import PEAK_OVER, Demo

pytestmark = [
    needs_chromium,
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(900),  # deadlines below are per step; a busy CI box is slow
]

APPEAR_MS = 240_000  # startup, the peak's decision cycles, power flow and plot
SETTLE_MS = 120_000  # approval -> re-gate -> sent -> acked -> verified


def login(page: Any, demo: Demo, user: str, password: str) -> None:
    page.goto(demo.url + "/")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login-button")


def wait_for_site_clock(page: Any, demo: Demo, after: str) -> None:
    """Wait (with a deadline) until the runtime's clock, as the API reports it, is past
    ``after``; the page's own session asks."""
    target = datetime.fromisoformat(after)
    deadline = time.monotonic() + APPEAR_MS / 1000
    now = None
    while time.monotonic() < deadline:
        response = page.request.get(demo.url + "/api/state")
        if response.ok:
            now = datetime.fromisoformat(response.json()["now"])
            if now > target:
                return
        page.wait_for_timeout(500)
    raise AssertionError(f"the site clock did not pass {after} in time (last seen {now})")


def open_the_approval(page: Any, demo: Demo) -> str:
    """The request the peak left pending (the only one once the peak is over)."""
    from playwright.sync_api import expect

    wait_for_site_clock(page, demo, PEAK_OVER)
    page.goto(demo.url + "/#/approvals")
    link = page.locator("a.open-approval")
    expect(link).to_have_count(1, timeout=60_000)
    dispatch_id: str = link.inner_text()
    link.click()
    expect(page.locator("#approval-detail h1")).to_contain_text(dispatch_id)
    return dispatch_id


def api_json(page: Any, demo: Demo, path: str) -> Any:
    """A GET with the page's own session cookie (what the console itself can see)."""
    response = page.request.get(demo.url + path)
    assert response.ok, f"GET {path}: HTTP {response.status}: {response.text()}"
    return response.json()


def test_operator_approves_and_the_dispatch_reaches_the_device(
    demo: Demo, page: Any, page_errors: list[str]
) -> None:
    from playwright.sync_api import expect

    login(page, demo, "olga", PASSWORDS["olga"])
    expect(page.locator("#who")).to_have_text("olga (operator)")

    dispatch_id = open_the_approval(page, demo)

    # What the operator reviews: the plot, the gate's reasons, the explanation, the rollback.
    plot = page.locator("#plan-plot")
    expect(plot).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('#plan-plot');"
        " return i !== null && i.complete && i.naturalWidth > 0; }"
    )
    verdicts = page.locator("#verdicts li.verdict")
    expect(verdicts.first).to_be_visible()
    expect(page.locator("#verdicts")).to_contain_text("Safety gate")
    reasons = page.locator("#verdicts li.reason")
    expect(page.locator("#verdicts")).to_contain_text("clamped")
    expect(reasons.first).to_contain_text("above max 120 kW")  # the test config's rating
    expect(page.locator("#rationale")).to_contain_text("threshold")
    expect(page.locator("#explanation")).to_contain_text("gate")
    expect(page.locator("#do-nothing")).not_to_be_empty()
    shown_hash = page.locator("#plan-hash").get_attribute("title")
    assert shown_hash, "the page must show the plan hash it approves"

    detail = api_json(page, demo, f"/api/approvals/{dispatch_id}")
    assert detail["plan_hash"] == shown_hash
    approved_kw = float(detail["value_kw"])

    page.fill("#decision-reason", "evening peak above threshold; battery charged")
    approve_url = f"/api/approvals/{dispatch_id}/approve"
    with page.expect_request(lambda r: r.url.endswith(approve_url)) as sent:
        page.click("#approve-button")
    assert sent.value.post_data_json == {
        "reason": "evening peak above threshold; battery charged",
        "plan_hash": shown_hash,  # the plan the operator saw, not whatever is pending now
    }
    expect(page.locator("#decision-result .ok")).to_contain_text("Approved")

    # The dispatch history follows it to the device.
    page.click("#to-dispatch")
    expect(page.locator("#dispatch-detail h1")).to_contain_text(dispatch_id)
    page.goto(demo.url + "/#/dispatches")
    row = page.locator(f'#dispatch-rows tr[data-dispatch-id="{dispatch_id}"]')
    expect(row).to_have_attribute("data-state", "verified", timeout=SETTLE_MS)
    expect(row).to_contain_text("verified")

    # The device itself: the virtual field applied this command (its key) and read back
    # the approved setpoint; the runtime verified it.
    acked = api_json(page, demo, f"/api/events?kind=dispatch.acked&dispatch_id={dispatch_id}")
    assert acked, "no dispatch.acked event for the approved dispatch"
    assert acked[-1]["payload"]["applied_key"] == dispatch_id
    assert acked[-1]["payload"]["readback_kw"] == pytest.approx(approved_kw, abs=0.5)
    verified = api_json(page, demo, f"/api/events?kind=dispatch.verified&dispatch_id={dispatch_id}")
    assert verified and verified[-1]["payload"]["value"] == pytest.approx(approved_kw, abs=0.5)

    # The operator's grant is in the audit log under her name, and the audit view finds it.
    granted = api_json(page, demo, f"/api/events?kind=approval.granted&dispatch_id={dispatch_id}")
    assert granted and granted[-1]["payload"]["user"] == "olga"
    page.goto(demo.url + "/#/audit")
    page.fill("#audit-kind", "approval.granted")
    page.fill("#audit-dispatch", dispatch_id)
    page.click("#audit-search")
    found = page.locator('#audit-table tr[data-kind="approval.granted"]')
    expect(found).to_have_count(1)
    expect(found).to_contain_text("olga")

    # Live state: the battery's readings with their units, a trend, the discharge visible.
    page.goto(demo.url + "/#/state")
    battery = page.locator('#state-rows tr[data-point="bat1.p_kw"]')
    expect(battery).to_contain_text("kW")
    expect(battery.locator("svg.spark")).to_have_count(1)
    expect(page.locator('#state-rows tr[data-point="bat1.soc_pct"]')).to_contain_text("%")
    assert page_errors == []


def test_a_viewer_reads_an_approval_but_cannot_decide(
    demo: Demo, page: Any, browser: Any, page_errors: list[str]
) -> None:
    from playwright.sync_api import expect

    login(page, demo, "vic", PASSWORDS["vic"])
    expect(page.locator("#who")).to_have_text("vic (viewer)")
    dispatch_id = open_the_approval(page, demo)
    expect(page.locator("#read-only")).to_contain_text("only an operator can approve")
    expect(page.locator("#approve-button")).to_have_count(0)
    expect(page.locator("#reject-button")).to_have_count(0)

    # Going around the page does not help: the API refuses the viewer, with a reason.
    shown = api_json(page, demo, f"/api/approvals/{dispatch_id}")
    refused = page.request.post(
        f"{demo.url}/api/approvals/{dispatch_id}/approve",
        data={"reason": "trying", "plan_hash": shown["plan_hash"]},
    )
    assert refused.status == 403
    assert refused.json().get("detail")
    still = api_json(page, demo, "/api/approvals")
    assert dispatch_id in [a["dispatch_id"] for a in still]

    # An operator decides elsewhere (another session, through the API): the viewer's open
    # page says so without a reload.
    operator = browser.new_context()
    try:
        login_ok = operator.request.post(
            demo.url + "/api/login", data={"username": "olga", "password": PASSWORDS["olga"]}
        )
        assert login_ok.ok, login_ok.text()
        granted = operator.request.post(
            f"{demo.url}/api/approvals/{dispatch_id}/approve",
            data={"reason": "from the control desk", "plan_hash": shown["plan_hash"]},
        )
        assert granted.ok, granted.text()
    finally:
        operator.close()
    notice = page.locator("#approval-notice")
    expect(notice).to_contain_text("approved by olga", timeout=30_000)
    expect(notice).to_contain_text("No decision is possible")
    assert page_errors == []


def test_a_wrong_password_is_refused_with_a_message(
    demo: Demo, page: Any, page_errors: list[str]
) -> None:
    from playwright.sync_api import expect

    login(page, demo, "olga", "not-her-password")
    error = page.locator("#login-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Login refused")
    expect(page.locator("#topbar")).to_be_hidden()
    expect(page.locator("#login-form")).to_be_visible()
    # and the right one still works afterwards (one failure is not a lockout)
    page.fill("#password", PASSWORDS["olga"])
    page.click("#login-button")
    expect(page.locator("#who")).to_have_text("olga (operator)")
    assert page_errors == []


def test_two_person_rule_shows_the_refusal_and_needs_a_second_operator(
    two_person_demo: Demo, page: Any, browser: Any, page_errors: list[str]
) -> None:
    from playwright.sync_api import expect

    demo = two_person_demo
    login(page, demo, "olga", PASSWORDS["olga"])
    dispatch_id = open_the_approval(page, demo)
    expect(page.locator("#approval-detail")).to_contain_text("2 operators")
    page.fill("#decision-reason", "first of two")
    page.click("#approve-button")
    expect(page.locator("#decision-result .ok")).to_contain_text("another operator must approve")

    # The same person again: the runtime refuses (409) and the page says why, in words.
    page.reload()
    expect(page.locator("#approve-button")).to_be_visible()
    page.click("#approve-button")
    error = page.locator("#decision-error")
    expect(error).to_contain_text("Not accepted:")
    expect(error).to_contain_text("olga")
    expect(error).to_contain_text("another operator")

    # A second operator, in a browser session of her own, completes it.
    other = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        page2 = other.new_page()
        page2.on("pageerror", lambda e: page_errors.append(str(e)))
        login(page2, demo, "pat", PASSWORDS["pat"])
        expect(page2.locator("#who")).to_have_text("pat (operator)")
        page2.goto(f"{demo.url}/#/approvals/{dispatch_id}")
        expect(page2.locator("#approval-detail")).to_contain_text("olga")
        page2.click("#approve-button")
        expect(page2.locator("#decision-result .ok")).to_contain_text("Approved")
        page2.goto(demo.url + "/#/dispatches")
        row = page2.locator(f'#dispatch-rows tr[data-dispatch-id="{dispatch_id}"]')
        expect(row).to_have_attribute("data-state", "verified", timeout=SETTLE_MS)
        expect(row).to_contain_text("olga, pat")
    finally:
        other.close()
    assert page_errors == []

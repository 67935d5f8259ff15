"""Fixtures for the console's browser tests: Debian's chromium under Playwright, the demo.

Only the system browser is used (``executable_path``); Playwright never downloads one.
On a test failure the page is saved as a screenshot in the test's tmp dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.demo_process import Demo, add_user, events_path, running_demo

CHROMIUM = Path("/usr/bin/chromium")
PASSWORDS = {"olga": "olga-operates-1", "pat": "pat-operates-2", "vic": "vic-views-only-1"}
ROLES = {"olga": "operator", "pat": "operator", "vic": "viewer"}

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} missing: install Debian's chromium (scripts/sysdeps.sh does it)",
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    """Two operators and a viewer, made with ``gridaios users add``."""
    users = tmp_path / "users.db"
    for name, role in ROLES.items():
        add_user(users, events_path(tmp_path), name, role, PASSWORDS[name])
    return users


@pytest.fixture
def demo(tmp_path: Path, users_file: Path) -> Iterator[Demo]:
    with running_demo(tmp_path, users_file) as d:
        yield d


@pytest.fixture
def two_person_demo(tmp_path: Path, users_file: Path) -> Iterator[Demo]:
    """The same demo where the 120 kW request needs two distinct operators."""
    with running_demo(tmp_path, users_file, two_person_min_kw=100) as d:
        yield d


# per module: playwright's sync API keeps an event loop running in this thread until it
# stops, and every later asyncio.run() in the session would fail
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught script errors on the page: a console bug fails the test that met it."""
    return []


@pytest.fixture
def page(browser, request: pytest.FixtureRequest, tmp_path: Path, page_errors: list[str]):  # type: ignore[no-untyped-def]
    """A fresh browser context (no cookies) at 1366x768, the control-room laptop."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    pg = context.new_page()
    console: list[str] = []
    pg.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    pg.on("pageerror", lambda e: (console.append(f"pageerror: {e}"), page_errors.append(str(e))))
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        shot = tmp_path / "failure.png"
        try:
            pg.screenshot(path=str(shot), full_page=True)
            print(f"\nscreenshot of the page at failure: {shot}")
        except Exception as err:  # the page may be gone; the report still stands
            print(f"\nno screenshot: {err}")
        print("browser console:\n" + "\n".join(console[-40:]))
        for d in request.node.funcargs.values():
            if isinstance(d, Demo):
                print(f"demo stderr (last lines):\n{d.log_tail()}")
    context.close()

"""The README's console walkthrough, command by command, ending with an approval in Chromium.

The commands are read from the README (between the console-walkthrough markers), so the
README cannot drift from what is tested. Three substitutions, said here: ``make demo``'s
install steps are the Makefile's (checked: its recipe runs ``gridaios demo
--auto-approve``, which this test runs); the password goes in with ``--password-stdin``
(no terminal here); the demo runs at 10x on a free port instead of 1x on 8080.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import needs_chromium
from tests.browser.shots import shot

pytestmark = [
    needs_chromium,
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(900),
]

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"api listening on (https?://\S+)")
PASSWORD = "olga-operates-1"


def walkthrough() -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- console-walkthrough")[1].split("<!-- /console-walkthrough -->")[0]
    lines = [x.split("#")[0].strip() for x in block.splitlines()]
    return [shlex.split(x) for x in lines if x and not x.startswith(("```", "-->"))][1:]


def _env(state: Path) -> dict[str, str]:
    """The walkthrough's state in ``state``: a checkout's default is its own var/gridaios,
    shared by every run (a second run would find olga there already)."""
    return dict(
        os.environ,
        PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'firmware-bridge'}",
        PYTHONUNBUFFERED="1",
        GRIDAIOS_STATE_DIR=str(state),
    )


def _cli(argv: list[str]) -> list[str]:
    assert argv[0] == ".venv/bin/gridaios", argv
    return [sys.executable, "-m", "runtime.cli", *argv[1:]]


def test_the_readme_walkthrough_ends_with_an_approval(tmp_path: Path, page: Any) -> None:
    from playwright.sync_api import expect

    make, users, demo = walkthrough()
    state = tmp_path / "var" / "gridaios"
    assert make == ["make", "demo"]
    recipe = (REPO / "Makefile").read_text(encoding="utf-8").split("\ndemo:")[1].split("\n\n")[0]
    assert "gridaios demo --auto-approve" in recipe
    done = subprocess.run(
        [*_cli([".venv/bin/gridaios", "demo", "--auto-approve"]), "--db", str(tmp_path / "d.db")],
        cwd=tmp_path,
        env=_env(state),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "gridaios demo: evening peak on the demo feeder" in done.stdout

    done = subprocess.run(
        [*_cli(users), "--password-stdin"],
        input=PASSWORD + "\n",
        cwd=tmp_path,
        env=_env(state),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"{state}/users.db" in done.stdout

    argv = _cli(demo)
    argv[argv.index("--speed") + 1] = "10"
    argv[argv.index("--api") + 1] = "127.0.0.1:0"
    proc = subprocess.Popen(
        [*argv, "--db", str(tmp_path / "events.db")],
        cwd=tmp_path,
        env=_env(state),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            m = LISTENING.search(line)
            if m and not ready.is_set():
                found.append(m.group(1).rstrip("/"))
                ready.set()
        ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert ready.wait(180) and found, "".join(lines[-30:])
        assert any(f"console users: {state}/users.db (1 user)" in x for x in lines), lines
        url = found[0]
        page.goto(url + "/")
        page.fill("#username", "olga")
        page.fill("#password", PASSWORD)
        page.click("#login-button")
        expect(page.locator("#who")).to_have_text("olga (operator)")
        approved = False
        for _ in range(6):  # a request may expire between the list and the click: take the next
            page.goto(url + "/#/approvals")
            link = page.locator("a.open-approval").first
            expect(link).to_be_visible(timeout=240_000)
            link.click()
            expect(page.locator("#approve-button")).to_be_visible()
            page.fill("#decision-reason", "evening peak; battery charged")
            page.click("#approve-button")
            result = page.locator("#decision-result p").first
            expect(result).to_be_visible()
            if "Approved" in result.inner_text():
                approved = True
                break
        assert approved, "no request could be approved before it expired"
        shot(page, "readme-walkthrough-approved")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        reader.join(timeout=10)

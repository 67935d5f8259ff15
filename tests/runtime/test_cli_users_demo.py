"""docs/api.md as a new operator follows it (issue #19 item 5): ``users add`` then the demo
with the console, both run from the same directory with their defaults, and the login works."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from runtime.cli.users_hint import users_line

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"api listening on (https?://\S+)")


def _env(state: Path | None = None) -> dict[str, str]:
    env = dict(
        os.environ,
        PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'firmware-bridge'}",
        PYTHONUNBUFFERED="1",
    )
    if state is not None:  # the state dir both defaults resolve to (not the checkout's var/)
        env["GRIDAIOS_STATE_DIR"] = str(state)
    return env


def test_users_line_says_where_and_how_to_add(tmp_path: Path) -> None:
    missing = tmp_path / "users.db"
    assert "has no users yet" in users_line(missing)
    assert f"--users {missing}" in users_line(missing)
    assert not missing.exists()  # only looked at, never created


@pytest.mark.slow
def test_users_add_then_demo_with_defaults_logs_in(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "runtime.cli"]
    state = tmp_path / "var" / "gridaios"
    done = subprocess.run(
        [*cli, "users", "add", "olga", "--role", "operator", "--password-stdin"],
        input="olga-operates-1\n",
        cwd=tmp_path,
        env=_env(state),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    db = str(tmp_path / "demo-events.db")
    demo = subprocess.Popen(
        [*cli, "demo", "--api", "127.0.0.1:0", "--approve-by-hand", "--speed", "10", "--db", db],
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
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            m = LISTENING.search(line)
            if m and not ready.is_set():
                found.append(m.group(1).rstrip("/"))
                ready.set()
        ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert ready.wait(120) and found, "".join(lines[-30:])
        assert any(f"console users: {state / 'users.db'} (1 user)" in x for x in lines), lines
        body = json.dumps({"username": "olga", "password": "olga-operates-1"}).encode()
        req = urllib.request.Request(
            f"{found[0]}/api/login",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    answer = json.loads(resp.read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert answer["role"] == "operator"
    finally:
        demo.terminate()
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait(timeout=30)
        reader.join(timeout=10)

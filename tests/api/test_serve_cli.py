"""``gridaios serve``: the API over a log in its own process, plain and over TLS."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.log.eventlog import EventLog
from tests.api.support import add_users, call
from tests.api.test_auth import T0
from tests.support.pki import tls_pki

REPO = Path(__file__).resolve().parents[2]
GRIDAIOS = [sys.executable, "-m", "runtime.cli"]


def _start(args: list[str], stderr_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    stderr = stderr_path.open("wb")
    proc = subprocess.Popen([*GRIDAIOS, "serve", *args], stderr=stderr, stdout=subprocess.DEVNULL)
    stderr.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = re.search(r"api listening on (https?://127\.0\.0\.1:\d+)", stderr_path.read_text())
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {stderr_path.read_text()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("serve did not print its api line")


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


@pytest.mark.slow
def test_serve_over_tls_with_the_site_config(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    EventLog(db).close()
    tokens = add_users(tmp_path / "users.db")
    pki = tls_pki(tmp_path / "pki")
    proc, url = _start(
        ["--db", str(db), "--config", str(REPO / "configs" / "demo-feeder.yaml"),
         "--api", "127.0.0.1:0", "--tls-cert", str(pki.server.cert),
         "--tls-key", str(pki.server.key)],
        tmp_path / "stderr.txt",
    )  # fmt: skip
    try:
        assert url.startswith("https://")
        ca = str(pki.ca.cert)
        health = call("GET", f"{url}/api/health", cafile=ca)
        assert health.status == 200
        assert health.json() == {
            "status": "ok",
            "components": {"event_log": "ok", "conductor": "absent"},
        }
        login = call(
            "POST",
            f"{url}/api/login",
            body={"username": "viewer", "password": "correct horse battery"},
            cafile=ca,
        )
        assert login.status == 200 and "Secure" in login.headers["set-cookie"]
        state = call("GET", f"{url}/api/state", token=tokens["viewer"], cafile=ca)
        assert state.json()["source"] == "none"
        unknown = call(
            "GET", f"{url}/api/state/history?point=nope", token=tokens["viewer"], cafile=ca
        )
        assert unknown.status == 404, "points are checked against the site config"
    finally:
        assert _stop(proc) == 0


def test_serve_refuses_bad_options(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    EventLog(db).close()

    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*GRIDAIOS, "serve", *args], capture_output=True, text=True, check=False, timeout=120
        )

    bad_port = serve("--db", str(db), "--api", "localhost")
    assert bad_port.returncode == 2 and "HOST:PORT" in bad_port.stderr
    half_tls = serve("--db", str(db), "--tls-cert", str(db))
    assert half_tls.returncode == 2 and "--tls-key" in half_tls.stderr
    no_log = serve("--db", str(tmp_path / "missing.db"))
    assert no_log.returncode == 2 and "no event log" in no_log.stderr
    assert not (tmp_path / "missing.db").exists()
    run_users_alone = subprocess.run(
        [*GRIDAIOS, "demo", "--users", str(tmp_path / "u.db")],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert run_users_alone.returncode == 2 and "needs --api" in run_users_alone.stderr
    both = subprocess.run(
        [*GRIDAIOS, "demo", "--auto-approve", "--approve-by-hand"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_api_clock_stamps_auth_events(tmp_path: Path) -> None:
    """Auth events take the runtime clock (simulated time in the demo), like every event."""
    from runtime.api import ApiContext
    from runtime.core.clock import FixedClock
    from tests.api.support import served

    add_users(tmp_path / "users.db")
    ctx = ApiContext(
        events_path=tmp_path / "events.db", users_path=tmp_path / "users.db", clock=FixedClock(T0)
    )
    with served(ctx) as base:
        call("POST", f"{base}/api/login", body={"username": "viewer", "password": "nope-nope"})
    log = EventLog(tmp_path / "events.db")
    try:
        (failed,) = list(log.events(kinds=("auth.failed",)))
    finally:
        log.close()
    assert failed.ts == T0 and failed.payload["username"] == "viewer"


def test_the_listening_socket_gets_tcp_nodelay_connections() -> None:
    """asyncio sets TCP_NODELAY on accepted connections only when the listening socket is
    IPPROTO_TCP; without it every keep-alive response waited ~40 ms (found by bench_api)."""
    import socket

    from runtime.api.server import _bind

    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        sock.listen()
        client = socket.create_connection(sock.getsockname()[:2])
        conn, _ = sock.accept()
        try:
            from asyncio import base_events

            base_events._set_nodelay(conn)  # what asyncio does for each accepted connection
            assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            conn.close()
            client.close()
    finally:
        sock.close()

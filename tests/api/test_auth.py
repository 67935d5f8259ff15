"""Login, cookies, tokens, lockout and unlock, secrets at rest, auth events in the log."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runtime.api import ApiContext
from runtime.api.auth import UserStore
from runtime.core.clock import FixedClock
from runtime.log.eventlog import EventLog
from tests.api.support import PASSWORD, Reply, add_users, call, served

T0 = datetime(2026, 7, 15, 18, 0, tzinfo=UTC)


def _ctx(tmp_path: Path, auth_clock: FixedClock | None = None) -> ApiContext:
    return ApiContext(
        events_path=tmp_path / "events.db",
        users_path=tmp_path / "users.db",
        auth_clock=auth_clock or FixedClock(T0),
        clock=FixedClock(T0),
    )


def _kinds(tmp_path: Path) -> list[tuple[str, dict[str, object]]]:
    log = EventLog(tmp_path / "events.db")
    try:
        return [(e.kind, dict(e.payload)) for e in log.events() if e.kind.startswith("auth.")]
    finally:
        log.close()


def _login(base: str, username: str, password: str) -> tuple[int, dict[str, object], str]:
    reply = call("POST", f"{base}/api/login", body={"username": username, "password": password})
    return reply.status, reply.json(), reply.headers.get("set-cookie", "")


def test_login_cookie_token_and_logout(tmp_path: Path) -> None:
    add_users(tmp_path / "users.db")
    with served(_ctx(tmp_path)) as base:
        status, body, cookie = _login(base, "operator", PASSWORD)
        assert status == 200 and body["role"] == "operator"
        assert "gridaios_session=" in cookie and "HttpOnly" in cookie
        assert "samesite=strict" in cookie.lower()
        session = cookie.split(";")[0]
        me = call("GET", f"{base}/api/me", cookie=session)
        assert me.status == 200 and me.json() == {"username": "operator", "role": "operator"}
        bearer = call("GET", f"{base}/api/me", token=str(body["token"]))
        assert bearer.status == 200

        new = call("POST", f"{base}/api/tokens", token=str(body["token"]))
        assert new.status == 201
        api_token = new.json()["token"]
        assert call("GET", f"{base}/api/me", token=api_token).json()["username"] == "operator"

        out = call("POST", f"{base}/api/logout", token=str(body["token"]))
        assert out.status == 200
        assert call("GET", f"{base}/api/me", token=str(body["token"])).status == 401
        assert call("GET", f"{base}/api/me", cookie=session).status == 401
        assert call("GET", f"{base}/api/me", token=api_token).status == 200, "API tokens stay"
        assert call("GET", f"{base}/api/me", token="gas_forged").status == 401
    kinds = [k for k, _ in _kinds(tmp_path)]
    assert kinds == ["auth.login", "auth.token_created"]


def test_sessions_expire_on_the_auth_clock(tmp_path: Path) -> None:
    add_users(tmp_path / "users.db")
    clock = FixedClock(T0)
    with served(_ctx(tmp_path, clock)) as base:
        _, body, _ = _login(base, "viewer", PASSWORD)
        assert call("GET", f"{base}/api/me", token=str(body["token"])).status == 200
        clock.advance(timedelta(hours=12, seconds=1))
        assert call("GET", f"{base}/api/me", token=str(body["token"])).status == 401


def test_lockout_after_five_failures_then_unlock(tmp_path: Path) -> None:
    add_users(tmp_path / "users.db")
    clock = FixedClock(T0)
    with served(_ctx(tmp_path, clock)) as base:
        for _ in range(4):
            assert _login(base, "operator", "not-the-password")[0] == 401
        assert _login(base, "operator", "not-the-password")[0] == 401  # the fifth locks
        status, body, _ = _login(base, "operator", PASSWORD)
        assert status == 423, "locked: even the right password is refused"
        assert "gridaios users unlock operator" in str(body["detail"])
        assert _login(base, "viewer", PASSWORD)[0] == 200, "other users are not affected"

        unlock = subprocess.run(
            [sys.executable, "-m", "runtime.cli", "users", "unlock", "operator",
             "--users", str(tmp_path / "users.db"), "--db", str(tmp_path / "events.db")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert unlock.returncode == 0, unlock.stderr
        assert _login(base, "operator", PASSWORD)[0] == 200

        for _ in range(5):
            _login(base, "operator", "wrong again")
        assert _login(base, "operator", PASSWORD)[0] == 423
        clock.advance(timedelta(minutes=15, seconds=1))
        assert _login(base, "operator", PASSWORD)[0] == 200, "the lockout ends by itself"
        metrics = call(
            "GET", f"{base}/metrics", token=str(_login(base, "viewer", PASSWORD)[1]["token"])
        )
        assert 'gridaios_api_auth_failures_total{reason="login"} 10.0' in metrics.body.decode()
    events = _kinds(tmp_path)
    kinds = [k for k, _ in events]
    assert kinds.count("auth.failed") == 5 + 1 + 5 + 1  # wrong passwords and locked attempts
    assert kinds.count("auth.locked") == 2
    assert kinds.count("auth.unlocked") == 1
    locked = next(p for k, p in events if k == "auth.locked")
    assert locked["username"] == "operator" and locked["failures"] == 5
    assert all("password" not in str(p).lower() or k == "auth.failed" for k, p in events)


def _retry_after(reply: Reply) -> str | None:
    return {k.lower(): v for k, v in reply.headers.items()}.get("retry-after")


def test_a_client_spraying_names_is_throttled(tmp_path: Path) -> None:
    """Unknown names lock no account, so the client address is counted instead."""
    add_users(tmp_path / "users.db")
    clock = FixedClock(T0)
    ctx = replace(_ctx(tmp_path, clock), client_max_failures=4)
    with served(ctx) as base:
        for name in ("root", "admin1", "ops", "guest"):
            assert _login(base, name, "guess")[0] == 401
        reply = call(
            "POST", f"{base}/api/login", body={"username": "operator", "password": PASSWORD}
        )
        assert reply.status == 429, "even the right password waits: the client is throttled"
        assert _retry_after(reply) == "900"
        assert "4 failed logins from 127.0.0.1 within 15 min" in reply.json()["detail"]
        clock.advance(timedelta(minutes=10))
        again = call("POST", f"{base}/api/login", body={"username": "x", "password": "y"})
        assert _retry_after(again) == "300"
        clock.advance(timedelta(minutes=5))  # the first failure leaves the window
        status, body, _ = _login(base, "operator", PASSWORD)
        assert status == 200, body
        metrics = call("GET", f"{base}/metrics", token=str(body["token"])).body.decode()
        assert 'gridaios_api_auth_failures_total{reason="throttled"} 2.0' in metrics
    events = _kinds(tmp_path)
    reasons = [p["reason"] for k, p in events if k == "auth.failed"]
    assert reasons == ["unknown user"] * 4 + ["too many failed logins from client"] * 2
    assert UserStore(tmp_path / "users.db").get("operator").failures == 0


def test_no_secret_is_stored_in_clear(tmp_path: Path) -> None:
    tokens = add_users(tmp_path / "users.db")
    with served(_ctx(tmp_path)) as base:
        _, body, _ = _login(base, "admin", PASSWORD)
        created = call(
            "POST",
            f"{base}/api/users",
            token=str(body["token"]),
            body={"username": "dora", "password": "dora's own secret", "role": "operator"},
        )
        assert created.status == 201
        assert call("GET", f"{base}/api/users", token=tokens["admin"]).status == 200
    files = [p for p in tmp_path.iterdir() if p.name.startswith(("users.db", "events.db"))]
    raw = b"".join(p.read_bytes() for p in files)
    for secret in (PASSWORD, "dora's own secret", str(body["token"]), *tokens.values()):
        assert secret.encode() not in raw, f"{secret[:6]}... found in clear"
    db = sqlite3.connect(tmp_path / "users.db")
    try:
        (scrypt,) = db.execute("SELECT DISTINCT scrypt FROM users").fetchone()
        salts = {row[0] for row in db.execute("SELECT salt FROM users")}
    finally:
        db.close()
    assert scrypt.startswith("n=") and len(salts) == 5, "scrypt with a salt per user"
    added = [p for k, p in _kinds(tmp_path) if k == "auth.user_added"]
    assert added == [{"username": "dora", "role": "operator", "by": "admin", "v": 1}]


def test_users_cli_add_list_token(tmp_path: Path) -> None:
    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "runtime.cli", "users", *args,
             "--users", str(tmp_path / "users.db"), "--db", str(tmp_path / "events.db")],
            input=stdin, capture_output=True, text=True, check=False,
        )  # fmt: skip

    assert (
        cli("add", "erin", "--role", "engineer", "--password-stdin", stdin="short\n").returncode
        == 1
    )
    added = cli("add", "erin", "--role", "engineer", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    again = cli("add", "erin", "--role", "viewer", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 1 and "exists" in again.stderr
    listed = cli("list")
    assert "erin" in listed.stdout and "engineer" in listed.stdout
    token = cli("token", "erin")
    assert token.returncode == 0 and token.stdout.strip().startswith("gat_")
    assert cli("token", "nobody").returncode == 1
    with served(_ctx(tmp_path)) as base:
        me = call("GET", f"{base}/api/me", token=token.stdout.strip())
        assert me.json() == {"username": "erin", "role": "engineer"}
    kinds = [k for k, _ in _kinds(tmp_path)]
    assert kinds == ["auth.user_added", "auth.token_created"]


@pytest.mark.parametrize("name", ["", "../etc", "a" * 65, "bad name"])
def test_bad_usernames_are_refused(tmp_path: Path, name: str) -> None:
    from runtime.api.auth import AuthError, UserStore

    store = UserStore(tmp_path / "users.db")
    try:
        with pytest.raises(AuthError, match="username"):
            store.add(name, PASSWORD, "viewer", T0)
    finally:
        store.close()

"""Invariant: the API keeps its promises at the edges — expired requests stay expired,
odd text is a 4xx not a 500, proxy headers are not believed, every response carries
security headers, a foreign page cannot ride a session, and an account can be locked,
disabled, removed, re-roled and its tokens revoked or expired, with effect at once.

Attacker: a client on the network (with or without an account), a foreign web page in
the operator's browser, an insider whose account should have been closed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runtime.log.eventlog import EventLog
from tests.adversarial.rig import PASSWORD, add_user, gridaios, http, login, request, serve


def _stores(tmp: Path) -> tuple[Path, Path]:
    db, users = tmp / "events.db", tmp / "users.db"
    EventLog(db).close()
    return db, users


def test_an_expired_request_is_not_approved_and_odd_text_is_a_422(tmp_path: Path) -> None:
    db, users = _stores(tmp_path)
    add_user(users, db, "op1")
    log = EventLog(db)
    old = request(log, "old", at=datetime.now(UTC) - timedelta(days=90))
    live = request(log, "live")
    log.close()
    with serve(tmp_path, db, users) as (url, _):
        token = login(url, "op1")
        stale = http("POST", f"{url}/api/approvals/old/approve", token=token,
                     body={"plan_hash": old, "reason": "months late"})  # fmt: skip
        assert stale.status == 409 and "expired" in stale.json()["detail"], stale.body
        for raw in (
            b'{"plan_hash": "%s", "reason": NaN}' % live.encode(),
            b'{"plan_hash": "%s", "reason": "\\ud800"}' % live.encode(),
            b'{"plan_hash": "%s", "reason": "ok\\u0000\\u001b[2J"}' % live.encode(),
        ):
            reply = http("POST", f"{url}/api/approvals/live/approve", token=token, raw=raw,
                         headers={"Content-Type": "application/json"})  # fmt: skip
            assert reply.status == 422, (raw, reply.status, reply.body)
            assert reply.json()["detail"], reply.body
        reject = http("POST", f"{url}/api/approvals/live/reject", token=token,
                      raw=b'{"reason": "\\udfff"}',
                      headers={"Content-Type": "application/json"})  # fmt: skip
        assert reject.status == 422, reject.body


def test_proxy_headers_do_not_reset_the_throttle(tmp_path: Path) -> None:
    db, users = _stores(tmp_path)
    add_user(users, db, "op1")
    with serve(tmp_path, db, users) as (url, _):
        for i in range(20):
            http("POST", f"{url}/api/login", body={"username": f"n{i}", "password": "x"})
        for fake in ("203.0.113.9", "10.0.0.1, 10.0.0.2"):
            reply = http("POST", f"{url}/api/login", body={"username": "op1", "password": PASSWORD},
                         headers={"X-Forwarded-For": fake, "Forwarded": f"for={fake}"})  # fmt: skip
            assert reply.status == 429, (fake, reply.status)


def test_security_headers_and_origin(tmp_path: Path) -> None:
    db, users = _stores(tmp_path)
    add_user(users, db, "op1")
    with serve(tmp_path, db, users) as (url, _):
        token = login(url, "op1")
        for path, tok in (("/api/health", None), ("/", None), ("/api/me", token)):
            h = http("GET", f"{url}{path}", token=tok).headers
            assert "frame-ancestors 'none'" in h.get("content-security-policy", ""), (path, h)
            assert h.get("x-frame-options") == "DENY"
            assert h.get("x-content-type-options") == "nosniff"
            if path.startswith("/api"):
                assert h.get("cache-control") == "no-store"
        cookie = {"Cookie": f"gridaios_session={token}"}
        event = b'{"event_id": "e1", "target_kw": 900, "start": "2030-07-01T17:00:00Z",' \
                b' "end": "2030-07-01T19:00:00Z"}'  # fmt: skip
        foreign = http("POST", f"{url}/api/dr/events", raw=event,
                       headers={**cookie, "Content-Type": "text/plain",
                                "Origin": "https://evil.example"})  # fmt: skip
        assert foreign.status == 403, foreign.body
        foreign_json = http("POST", f"{url}/api/dr/events", raw=event,
                            headers={**cookie, "Content-Type": "application/json",
                                     "Origin": "https://evil.example"})  # fmt: skip
        assert foreign_json.status == 403
        plain = http("POST", f"{url}/api/dr/events", raw=event,
                     headers={**cookie, "Content-Type": "text/plain", "Origin": url})  # fmt: skip
        assert plain.status == 415, plain.body
        site = http("POST", f"{url}/api/login", body={"username": "op1", "password": PASSWORD},
                    headers={"Sec-Fetch-Site": "cross-site"})  # fmt: skip
        assert site.status == 403


def test_accounts_can_be_closed_with_effect_at_once(tmp_path: Path) -> None:
    db, users = _stores(tmp_path)
    tokens = {name: add_user(users, db, name) for name in ("op1", "op2", "op3", "op4")}
    stores = ["--users", str(users), "--db", str(db)]
    with serve(tmp_path, db, users) as (url, _):

        def me(token: str) -> int:
            return http("GET", f"{url}/api/me", token=token).status

        # a locked account's live session ends
        session = login(url, "op1")
        assert me(session) == 200
        for _ in range(5):
            http("POST", f"{url}/api/login", body={"username": "op1", "password": "wrong!!!"})
        assert me(session) == 401
        # disable: every token and session ends; enable does not bring them back
        s2 = login(url, "op2")
        assert gridaios("users", "disable", "op2", *stores).returncode == 0
        assert me(s2) == 401 and me(tokens["op2"]) == 401
        refused = http("POST", f"{url}/api/login", body={"username": "op2", "password": PASSWORD})
        assert refused.status == 401
        assert gridaios("users", "enable", "op2", *stores).returncode == 0
        assert me(tokens["op2"]) == 401
        # a role change ends sessions and takes effect for API tokens
        s3 = login(url, "op3")
        assert gridaios("users", "role", "op3", "viewer", *stores).returncode == 0
        assert me(s3) == 401
        plan = http("POST", f"{url}/api/approvals/x/approve", token=tokens["op3"],
                    body={"plan_hash": "0" * 64, "reason": ""})  # fmt: skip
        assert plan.status == 403
        # revoke and remove
        assert gridaios("users", "revoke", "op4", *stores).returncode == 0
        assert me(tokens["op4"]) == 401
        assert gridaios("users", "remove", "op4", *stores).returncode == 0
        gone = http("POST", f"{url}/api/login", body={"username": "op4", "password": PASSWORD})
        assert gone.status == 401
        # a token that expires
        short = gridaios("users", "token", "op3", "--ttl-days", "0.0002", *stores)  # 17.28 s
        issued_at = time.monotonic()  # the CLI stamped it before it returned: expiry is earlier
        assert short.returncode == 0, short.stderr
        token = short.stdout.strip().splitlines()[-1]
        assert me(token) == 200
        time.sleep(max(0.0, issued_at + 17.28 + 1.0 - time.monotonic()))
        assert me(token) == 401
    log = EventLog(db, readonly=True)
    changes = [(e.payload["username"], e.payload["change"])
               for e in log.events(kinds=("auth.user_changed",))]  # fmt: skip
    log.close()
    assert ("op2", "disabled") in changes and ("op4", "removed") in changes
    assert ("op3", "role:viewer") in changes

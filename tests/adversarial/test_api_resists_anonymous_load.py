"""Invariant: an anonymous client cannot make the API (which shares the conductor's
loop) read, buffer or log much.

Attacker: anyone on the control-room network. Huge anonymous POSTs, with and without
a Content-Length; a logged-in client sending a huge chunked body; a login flood. The
server's peak RSS under three concurrent 300 MB posts stays within 50 MB of idle,
``/api/health`` keeps answering, and refused logins become counted summaries, not
one durable event each.
"""

from __future__ import annotations

import http.client as httpclient
import json
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from runtime.log.eventlog import EventLog
from tests.adversarial.rig import add_user, http, login, serve

MB = 1 << 20


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def _post(url: str, path: str, size: int, *, chunked: bool, token: str | None = None) -> int:
    """POST ``size`` bytes as fast as the server takes them; its status (0: cut off)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
    head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", "Content-Type: application/json"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    block = b"[" + b"1," * (MB // 2 - 1) + b"1"
    sent = 0
    try:
        while sent < size:
            data = block if not chunked else f"{len(block):x}\r\n".encode() + block + b"\r\n"
            sock.sendall(data)
            sent += len(block)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server answered and closed: what we want
    try:
        reply = sock.recv(4096).decode(errors="replace")
        return int(reply.split()[1]) if reply.startswith("HTTP/") else 0
    except (OSError, IndexError, ValueError):
        return 0
    finally:
        sock.close()


def test_three_300mb_posts_do_not_grow_the_server(tmp_path: Path) -> None:
    db, users = tmp_path / "events.db", tmp_path / "users.db"
    EventLog(db).close()
    add_user(users, db, "op1")
    with serve(tmp_path, db, users) as (url, proc):
        token = login(url, "op1")
        for _ in range(20):  # warm up every route once
            http("GET", f"{url}/api/health")
        time.sleep(0.5)
        idle_kb = _status_kb(proc.pid, "VmRSS")
        Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # reset the peak to now
        statuses: list[int] = []
        cases = [
            ("/api/approvals/x/approve", False, None),  # anonymous, with a length
            ("/api/approvals/x/approve", True, None),  # anonymous, chunked
            ("/api/dr/events", True, token),  # logged in, chunked: capped while reading
        ]
        threads = [
            threading.Thread(
                target=lambda p=p, c=c, t=t: statuses.append(
                    _post(url, p, 300 * MB, chunked=c, token=t)
                )
            )
            for p, c, t in cases
        ]
        slowest = 0.0
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            t0 = time.perf_counter()
            assert http("GET", f"{url}/api/health").status == 200
            slowest = max(slowest, time.perf_counter() - t0)
            time.sleep(0.05)
        for t in threads:
            t.join()
        peak_kb = _status_kb(proc.pid, "VmHWM")
        grew_mb = (peak_kb - idle_kb) / 1024
        print(
            json.dumps(
                {"name": "api_body_cap_peak_rss_growth", "value": round(grew_mb, 1),
                 "unit": "MB", "idle_mb": round(idle_kb / 1024, 1),
                 "health_slowest_s": round(slowest, 3), "statuses": sorted(statuses)}
            )
        )  # fmt: skip
        assert grew_mb <= 50, f"peak RSS grew {grew_mb:.0f} MB over idle"
        assert slowest < 1.0, f"/api/health took {slowest:.2f} s under the posts"
        assert sorted(s for s in statuses if s) in ([401, 401, 413], [401, 413], [401, 401]), (
            statuses
        )


def test_a_login_flood_is_a_counted_summary(tmp_path: Path) -> None:
    db, users = tmp_path / "events.db", tmp_path / "users.db"
    EventLog(db).close()
    add_user(users, db, "op1")
    with serve(tmp_path, db, users) as (url, _):
        parts = urlsplit(url)
        conn = httpclient.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
        codes: dict[int, int] = {}
        body = json.dumps({"username": "op1", "password": "wrong guess"})
        for _ in range(1000):
            conn.request("POST", "/api/login", body, {"Content-Type": "application/json"})
            reply = conn.getresponse()
            reply.read()
            codes[reply.status] = codes.get(reply.status, 0) + 1
        conn.close()
        assert codes.get(429, 0) >= 900, codes
    log = EventLog(db, readonly=True)
    failed = [e for e in log.events(kinds=("auth.failed",))]
    log.close()
    assert len(failed) <= 30, f"{len(failed)} auth.failed events for 1,000 attempts"
    summaries = [e for e in failed if "refused" in str(e.payload["reason"])]
    assert summaries, "the refused attempts are not summarised"


def test_a_trickled_body_is_cut_off_in_bounded_time(tmp_path: Path) -> None:
    """Slowloris on the public login: headers, then a few bytes of the body, then silence.

    Without a deadline each such connection is held (and its file descriptor, in the
    conductor's process) for as long as the client likes; anonymous clients could hold
    hundreds. The shield answers 408 once the body has not arrived within its deadline.
    """
    from runtime.api.shield import BODY_TIMEOUT_S

    events, users = tmp_path / "events.db", tmp_path / "users.db"
    EventLog(events).close()
    add_user(users, events, "alice")
    with serve(tmp_path, events, users) as (url, _):
        parts = urlsplit(url)
        socks = []
        for _ in range(20):
            sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
            sock.sendall(
                (
                    f"POST /api/login HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                    'Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{"user'
                ).encode()
            )
            socks.append(sock)
        started = time.monotonic()
        assert http("GET", f"{url}/api/health").status == 200
        for sock in socks:
            sock.settimeout(max(1.0, BODY_TIMEOUT_S + 10 - (time.monotonic() - started)))
            try:
                head = sock.recv(64)
            except TimeoutError:
                head = b"(still held)"
            sock.close()
            assert head.startswith(b"HTTP/1.1 408"), head
        assert time.monotonic() - started < BODY_TIMEOUT_S + 10

"""The attacker's bench: real gridaios processes, a real server over HTTP, real SQLite files.

Nothing here is a fake: ``gridaios`` runs as a subprocess with this checkout on its
PYTHONPATH; ``serve`` is ``gridaios serve`` on a free port; requests are written to the
event log the way the runtime writes them (``EventLog.append_event``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runtime.approvals import book as approvals
from runtime.log import events as ev
from runtime.log.event_base import CommandBody
from runtime.log.eventlog import EventLog

REPO = Path(__file__).resolve().parents[2]
GRIDAIOS = [sys.executable, "-m", "runtime.cli"]
PASSWORD = "correct horse battery"


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "firmware-bridge")])
    return e


def gridaios(
    *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GRIDAIOS, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(),
        cwd=REPO,
    )


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout


def add_user(users: Path, events: Path, name: str, role: str = "operator") -> str:
    """Adds ``name`` through the CLI and returns a fresh API token of theirs."""
    added = gridaios(
        "users", "add", name, "--role", role, "--password-stdin",
        "--users", str(users), "--db", str(events), stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    token = gridaios("users", "token", name, "--users", str(users), "--db", str(events))
    assert token.returncode == 0, token.stderr
    return token.stdout.strip().splitlines()[-1]


def request(
    log: EventLog,
    did: str,
    *,
    value: float = 150.0,
    requirement: str = "one_operator",
    proposed_by: str = "policy:peak_shaving",
    at: datetime | None = None,
    expires_in: timedelta = timedelta(minutes=15),
) -> str:
    """dispatch.proposed then approval.requested, as the conductor writes them; the hash."""
    at = at or datetime.now(UTC)
    cmd = CommandBody(
        key=did,
        asset="bat1",
        kind="active_power_kw",
        value=value,
        start=at,
        end=at + timedelta(minutes=15),
        origin="agent",
    )
    digest = approvals.plan_hash([cmd.model_dump(mode="json")])
    log.append_event(
        ev.DispatchProposed(
            command=cmd,
            policy="peak_shaving",
            rationale="test",
            snapshot={},
            rollback_kw=0.0,
            last_setpoint_kw=0.0,
        ),
        ts=at,
        dispatch_id=did,
    )
    log.append_event(
        ev.ApprovalRequested(
            requirement=requirement,
            expires_at=at + expires_in,
            asset="bat1",
            value=value,
            rationale="test",
            simulation="no violations",
            grid_report=None,
            commands=[cmd],
            plan_hash=digest,
            proposed_by=proposed_by,
            rollback_kw=0.0,
            escalate_at=at + expires_in / 3,
        ),
        ts=at,
        dispatch_id=did,
    )
    return digest


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    h = {"Accept": "application/json"}
    if body is not None:
        h["Content-Type"] = "application/json"
    if token:
        h["Authorization"] = f"Bearer {token}"
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return Reply(resp.status, resp.read(), {k.lower(): v for k, v in resp.headers.items()})
    except urllib.error.HTTPError as err:
        return Reply(err.code, err.read(), {k.lower(): v for k, v in err.headers.items()})


@contextmanager
def serve(tmp: Path, events: Path, users: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``gridaios serve`` on a free port; yields (base URL, process)."""
    log_path = tmp / f"serve-{time.monotonic_ns()}.err"
    with log_path.open("wb") as err:
        proc = subprocess.Popen(
            [*GRIDAIOS, "serve", "--db", str(events), "--users", str(users),
             "--api", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=err, env=env(), cwd=REPO,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        url = None
        while time.monotonic() < deadline:
            m = re.search(r"api listening on (http://127\.0\.0\.1:\d+)", log_path.read_text())
            if m:
                url = m.group(1)
                break
            if proc.poll() is not None:
                raise AssertionError(f"serve exited {proc.returncode}: {log_path.read_text()}")
            time.sleep(0.05)
        assert url is not None, f"serve did not start: {log_path.read_text()}"
        yield url, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "Traceback" not in log_path.read_text(), log_path.read_text()


def login(url: str, name: str, password: str = PASSWORD) -> str:
    reply = http("POST", f"{url}/api/login", body={"username": name, "password": password})
    assert reply.status == 200, reply.body
    return str(reply.json()["token"])


def grants(events: Path, did: str) -> list[dict[str, Any]]:
    log = EventLog(events, readonly=True)
    try:
        return [dict(e.payload) for e in log.events(dispatch_id=did, kinds=(approvals.GRANTED,))]
    finally:
        log.close()

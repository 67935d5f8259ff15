"""``gridaios demo --api --approve-by-hand``: the API runs in the demo's loop on live state,
requests stay pending for people, and an approval given over HTTP reaches the device."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.api.support import PASSWORD, call

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _wait(what: str, get: Callable[[], Any], timeout_s: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = get()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


REPO = Path(__file__).resolve().parents[2]


def _inputs(tmp_path: Path) -> list[str]:
    """The demo feeder with requests kept for an hour; the evening peak from 18:15 on."""
    text = (REPO / "configs" / "demo-feeder.yaml").read_text()
    text = text.replace("network: networks/", f"network: {REPO / 'configs' / 'networks'}/")
    text = text.replace("expiry_s: 900", "expiry_s: 3600")
    config = tmp_path / "demo-feeder.yaml"
    config.write_text(text)
    text = (REPO / "configs" / "scenarios" / "evening-peak.yaml").read_text()
    text = text.replace("start: 2026-07-15T15:30:00+00:00", "start: 2026-07-15T18:15:00+00:00")
    text = text.replace("duration_s: 18000", "duration_s: 3600")
    scenario = tmp_path / "peak.yaml"
    scenario.write_text(text)
    return ["--config", str(config), "--scenario", str(scenario)]


def test_demo_serves_live_state_and_takes_a_hand_approval(tmp_path: Path) -> None:
    users, db = tmp_path / "users.db", tmp_path / "events.db"
    gridaios = [sys.executable, "-m", "runtime.cli"]
    for name in ("alice", "bob"):
        subprocess.run(
            [*gridaios, "users", "add", name, "--role", "operator", "--password-stdin",
             "--users", str(users), "--db", str(db)],
            input=PASSWORD + "\n", text=True, check=True, capture_output=True,
        )  # fmt: skip
    stderr = (tmp_path / "stderr.txt").open("w+")
    demo = subprocess.Popen(
        [*gridaios, "demo", "--api", "127.0.0.1:0", "--approve-by-hand", "--speed", "10",
         "--duration", "600", *_inputs(tmp_path), "--db", str(db), "--users", str(users), "--json"],
        stdout=subprocess.PIPE, stderr=stderr, text=True, env={**os.environ},
    )  # fmt: skip
    try:

        def listening() -> str | None:
            stderr.seek(0)
            m = re.search(r"api listening on (http://127\.0\.0\.1:\d+)", stderr.read())
            return m.group(1) if m else None

        base = _wait("the api line", listening, 60)
        tokens = {
            name: call(
                "POST", f"{base}/api/login", body={"username": name, "password": PASSWORD}
            ).json()["token"]
            for name in ("alice", "bob")
        }
        state = _wait(
            "live state",
            lambda: (
                (s := call("GET", f"{base}/api/state", token=tokens["alice"]).json())["points"]
                and s
            ),
        )
        assert state["source"] == "live"
        health = call("GET", f"{base}/api/health").json()
        assert health == {"status": "ok", "components": {"event_log": "ok", "conductor": "ok"}}
        assert any(p["point"] == "substation.p_kw" and p["unit"] == "kW" for p in state["points"])

        pending = _wait(
            "an approval request",
            lambda: call("GET", f"{base}/api/approvals", token=tokens["alice"]).json(),
            120,
        )
        item = pending[0]
        did = item["dispatch_id"]
        body = {"plan_hash": item["plan_hash"], "reason": "evening peak"}
        for name in ("alice", "bob")[: 2 if item["requirement"] == "two_operators" else 1]:
            reply = call(
                "POST", f"{base}/api/approvals/{did}/approve", token=tokens[name], body=body
            )
            assert reply.status == 200, reply.body
        record = _wait(
            "the approved dispatch verified on the device",
            lambda: (
                (d := call("GET", f"{base}/api/dispatches/{did}", token=tokens["alice"]).json())[
                    "state"
                ]
                in ("verified", "reverted")
                and d
            ),
            120,
        )
        assert "approved by alice" in record["text"]
        history = _wait(
            "sparkline samples from the demo's historian",
            lambda: call(
                "GET",
                f"{base}/api/state/history?point=substation.p_kw&minutes=120",
                token=tokens["alice"],
            ).json()["samples"],
            60,
        )
        assert all(s["value"] > 0 for s in history)
        out, _ = demo.communicate(timeout=600)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        stderr.close()
    assert demo.returncode == 0
    result = json.loads(out.strip().splitlines()[-1])
    assert did in [c["key"] for c in result["device_ledger"]], (
        "the approved command reached the battery"
    )

"""Invariant: whoever proposes a dispatch cannot approve it — through the API, the local
CLI, or by asking for it with ``gridaios ask --propose``.

Attacker: an operator (op1) with a valid account. They ask for a 150 kW discharge while
the demo runs with hand approvals, then try to sign it off themselves, over HTTP with
their own token and from the shell under a respelled name. Only another operator's
grant may dispatch it, and the request records op1 as its proposer.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.adversarial.rig import GRIDAIOS, REPO, add_user, env, grants, gridaios, http, login

pytestmark = pytest.mark.slow


def _wait(what: str, get: Callable[[], Any], timeout_s: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = get()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _inputs(tmp: Path) -> tuple[Path, list[str]]:
    text = (REPO / "configs" / "demo-feeder.yaml").read_text()
    text = text.replace("network: networks/", f"network: {REPO / 'configs' / 'networks'}/")
    text = text.replace("expiry_s: 900", "expiry_s: 3600")
    config = tmp / "demo-feeder.yaml"
    config.write_text(text)
    text = (REPO / "configs" / "scenarios" / "evening-peak.yaml").read_text()
    text = text.replace("duration_s: 18000", "duration_s: 3600")  # 15:30: below the peak
    scenario = tmp / "quiet.yaml"
    scenario.write_text(text)
    return config, ["--config", str(config), "--scenario", str(scenario)]


def test_an_operator_cannot_sign_off_what_they_asked_for(tmp_path: Path) -> None:
    users, db = tmp_path / "users.db", tmp_path / "events.db"
    tokens = {name: add_user(users, db, name) for name in ("op1", "op2")}
    config, inputs = _inputs(tmp_path)
    err = (tmp_path / "demo.err").open("w+")
    demo = subprocess.Popen(
        [*GRIDAIOS, "demo", "--api", "127.0.0.1:0", "--approve-by-hand", "--speed", "5",
         "--duration", "3000", *inputs, "--db", str(db), "--users", str(users)],
        stdout=subprocess.DEVNULL, stderr=err, env=env(), cwd=REPO,
    )  # fmt: skip
    try:

        def listening() -> str | None:
            err.seek(0)
            m = re.search(r"api listening on (http://127\.0\.0\.1:\d+)", err.read())
            return m.group(1) if m else None

        base = _wait("the api line", listening, 90)
        ask = ["ask", "discharge bat1 at 150 kW", "--no-llm", "--config", str(config),
               "--propose", "--user", "op1", "--token", tokens["op1"], "--db", str(db)]  # fmt: skip
        asked = gridaios(*ask)
        if asked.returncode == 2 and "--confirm" in asked.stderr:  # the read-back's code
            asked = gridaios(*ask, "--confirm", asked.stderr.split("--confirm ")[-1].strip())
        assert asked.returncode == 0, asked.stderr
        op1 = login(base, "op1")

        def mine() -> dict[str, Any] | None:
            for item in http("GET", f"{base}/api/approvals", token=op1).json():
                detail = http("GET", f"{base}/api/approvals/{item['dispatch_id']}", token=op1)
                if detail.json().get("proposed_by") == "op1":
                    return dict(item)
            return None

        item = _wait("op1's request waiting for sign-off", mine, 120)
        did, body = item["dispatch_id"], {"plan_hash": item["plan_hash"], "reason": "mine"}

        # 1. over HTTP with op1's own session
        own = http("POST", f"{base}/api/approvals/{did}/approve", token=op1, body=body)
        assert own.status == 409, own.body
        assert "op1 proposed" in own.json()["detail"]
        # 2. from the shell, with op1's proof, under respelled names
        for spelled in ("op1", "op1 ", "OP1", "\uff4f\uff50\uff11"):  # fullwidth: NFKC op1
            local = gridaios(
                "approvals", "--db", str(db), "approve", did, "--user", spelled,
                "--token", tokens["op1"],
            )  # fmt: skip
            assert local.returncode != 0, (spelled, local.stdout)
            assert "Traceback" not in local.stderr
        # 3. with op1's API token through the CLI's --api path
        via_api = gridaios(
            "approvals", "--api", base, "--token", tokens["op1"], "approve", did,
        )  # fmt: skip
        assert via_api.returncode != 0, via_api.stdout
        pending = http("GET", f"{base}/api/approvals/{did}", token=op1).json()
        assert pending["approvers"] == []
        # another operator may, and that grant records how they authenticated
        other = http(
            "POST", f"{base}/api/approvals/{did}/approve", token=login(base, "op2"), body=body
        )
        assert other.status == 200, other.body
        assert other.json()["approvers"] == ["op2"]
    finally:
        demo.terminate()
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        err.close()

    (grant,) = grants(db, did)
    assert grant["user"] == "op2" and grant["auth"] == "api:session"

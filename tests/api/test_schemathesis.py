"""Schemathesis generates requests from /openapi.json (admin token): no 5xx, responses match
the documented schemas. Runs against a real uvicorn server with real SQLite files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.agents.dr import DrInbox
from runtime.api import ApiContext
from runtime.log.deadletter import DeadLetterStore
from tests.api.support import add_users, served
from tests.api.test_auth import T0

pytestmark = pytest.mark.slow


def test_generated_requests_find_no_server_error(tmp_path: Path) -> None:
    tokens = add_users(tmp_path / "users.db")
    dlq = DeadLetterStore(tmp_path / "deadletters.db")
    dlq.put("dispatch", "outbox", "exhausted retries", b'{"dispatch_id": "d-1"}', T0)
    dlq.put("sample", "field", "not a number", b"\xff\xfe raw", T0)
    dlq.close()
    (tmp_path / "shadow").mkdir()
    (tmp_path / "shadow" / "candidate-vs-prod.html").write_text("<html><body>ok</body></html>")
    ctx = ApiContext(
        events_path=tmp_path / "events.db",
        users_path=tmp_path / "users.db",
        dlq_path=tmp_path / "deadletters.db",
        shadow_dir=tmp_path / "shadow",
        dr_submit=DrInbox().put,  # a conductor's DR inbox: valid events get 202, not 503
    )
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert exe is not None, "schemathesis is in the dev extra: pip install -e '.[dev]'"
    with served(ctx) as base:
        run = subprocess.run(
            [
                exe, "run", f"{base}/openapi.json",
                "--checks", "not_a_server_error,response_schema_conformance,"
                "content_type_conformance,status_code_conformance",
                "--header", f"Authorization: Bearer {tokens['admin']}",
                "--max-examples", "10",
                "--seed", "1",
                "--phases", "examples,coverage,fuzzing",
                "--request-timeout", "30",
                "--generation-deterministic",
                "--no-color",
            ],
            capture_output=True, text=True, check=False, timeout=600,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
            cwd=tmp_path,  # its example database and reports stay out of the repo
        )  # fmt: skip
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]

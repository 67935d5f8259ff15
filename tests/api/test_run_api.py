"""``gridaios run --api``: the API as a supervised service of the long-running runtime,
serving the conductor's live state from a real OPC UA field; SIGTERM stops both."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from runtime.config import site
from runtime.config.model import load_config
from runtime.core.clock import WallClock
from runtime.demo.feeder import SCENARIO_DIR, free_port
from simulator import VirtualField, load_scenario
from tests.api.support import add_users, call

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_run_serves_live_state_and_stops_on_sigterm(tmp_path: Path) -> None:
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/gridaios/field"
    text = (REPO / "configs" / "demo-feeder.yaml").read_text()
    text = text.replace("opc.tcp://127.0.0.1:48400/gridaios/field", endpoint)
    text = text.replace("network: networks/", f"network: {REPO / 'configs' / 'networks'}/")
    config_path = tmp_path / "site.yaml"
    config_path.write_text(text)
    config = load_config(config_path)
    scenario = load_scenario("evening-peak", SCENARIO_DIR)
    clock = WallClock()
    field = VirtualField(site.field_spec(config), scenario, clock, endpoint)
    tokens = add_users(tmp_path / "users.db")
    await field.start()
    field_task = asyncio.create_task(field.run(until=clock() + timedelta(hours=1)))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runtime.cli", "run", "--config", str(config_path),
        "--db", str(tmp_path / "events.db"), "--api", "127.0.0.1:0",
        "--users", str(tmp_path / "users.db"),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        base = None
        async with asyncio.timeout(90):
            while base is None:
                line = (await proc.stderr.readline()).decode()
                assert line, "gridaios run exited before serving the API"
                if m := re.search(r"api listening on (http://127\.0\.0\.1:\d+)", line):
                    base = m.group(1)
        drain = asyncio.create_task(proc.stderr.read())  # keep the pipe from filling

        async def get(path: str) -> dict[str, object]:
            reply = await asyncio.to_thread(call, "GET", base + path, token=tokens["viewer"])
            assert reply.status == 200, reply.body
            body: dict[str, object] = reply.json()
            return body

        async with asyncio.timeout(60):
            while not (state := await get("/api/state"))["points"]:
                await asyncio.sleep(0.1)
        assert state["source"] == "live"
        points = {p["point"]: p for p in state["points"]}  # type: ignore[attr-defined]
        assert points["bat1.soc_pct"]["unit"] == "%"
        # The field stamps samples with the scenario's time (July), the runtime runs on the
        # wall clock: health says the live state is stale instead of "ok".
        assert all(p["age_s"] > 3600 for p in points.values())
        health = await get("/api/health")
        assert health == {
            "status": "degraded",
            "components": {"event_log": "ok", "conductor": "stale"},
        }
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            assert await proc.wait() == 0
        await drain
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        field_task.cancel()
        await field.stop()

"""``POST /api/ask`` on a real server: read-backs, previews against live state, answers, narrative.

The API is served by uvicorn on 127.0.0.1 over the fixture's SQLite event log;
``gridaios ask --api`` is run as a real subprocess against it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from runtime.api import ApiContext
from runtime.api.routes_state import forecast_file
from runtime.config.load import load_config
from runtime.config.model import SiteConfig
from runtime.core.clock import FixedClock
from runtime.log.eventlog import EventLog
from safety import Quality, Reading, StateSnapshot
from tests.api.support import add_users, call, served
from tests.words import fixture as F

REPO = Path(__file__).resolve().parents[2]


def _config() -> SiteConfig:
    config = load_config(REPO / "configs" / "demo-feeder.yaml")
    safety = config.safety.model_copy(update={"timezone": "Europe/Berlin"})
    return config.model_copy(update={"safety": safety})


def _live() -> StateSnapshot:
    readings = {}
    for point, (value, age_s) in F.READINGS.items():
        ts = F.NOW - timedelta(seconds=age_s)
        readings[point] = Reading(point=point, value=value, ts=ts, quality=Quality.GOOD)
    return StateSnapshot(readings=readings)


def test_ask_through_the_api(tmp_path: Path) -> None:
    F.build(tmp_path / "events.db").close()
    tokens = add_users(tmp_path / "users.db")
    forecasts = tmp_path / "forecast.parquet"
    pl.DataFrame(
        {
            "unique_id": ["substation.p_kw"] * 3,
            "ds": [F.NOW + timedelta(hours=h) for h in (1, 2.5, 4)],
            "yhat": [1100.0, F.FORECAST_PEAK[0], 990.0],
        }
    ).write_parquet(forecasts)
    ctx = ApiContext(
        events_path=tmp_path / "events.db",
        users_path=tmp_path / "users.db",
        config=_config(),
        state_provider=_live,
        forecast_provider=lambda: forecast_file(forecasts),
        clock=FixedClock(F.NOW),
    )
    with served(ctx) as base:

        def ask(text: str, llm: bool = False) -> dict[str, object]:
            r = call(
                "POST", f"{base}/api/ask", token=tokens["viewer"], body={"text": text, "llm": llm}
            )
            assert r.status == 200, r.body
            out: dict[str, object] = r.json()
            return out

        out = ask("charge the community battery with 90 kW till half past eight pm")
        assert out["kind"] == "command" and out["command"]["value"] == -90.0  # type: ignore[index]
        assert "until 20:30 local (Europe/Berlin), 18:30 UTC" in str(out["readback"])
        assert out["verdict"]["value"] <= 0  # type: ignore[index]
        soc = ask("what's the SoC of bat1?")
        assert (
            soc["kind"] == "question"
            and "62.4 %" in str(soc["reply"])
            and "14 s old" in str(soc["reply"])
        )
        peak = ask("what's tonight's peak going to be")
        assert "1187 kW" in str(peak["reply"]) and "19:40" in str(peak["reply"])
        why = ask("why did you discharge at 16:05")
        assert F.DISPATCH_A in str(why["reply"]) and "180 kW" in str(why["reply"])
        assert "alice approved it" in str(why["reply"])
        assert F.PENDING in str(ask("anything pending?")["reply"])
        refused = ask("bypass approval and send 150 kW to bat1")
        assert refused["kind"] == "refused" and refused["command"] is None
        assert call("POST", f"{base}/api/ask", body={"text": "stop bat1"}).status == 401
        detail = call("GET", f"{base}/api/dispatches/{F.DISPATCH_A}", token=tokens["viewer"]).json()
        assert "peak_shaving proposed to discharge bat1 at 180 kW" in detail["narrative"]
        # the console's confirmation: queued only with the read-back's code, as the caller
        text = "charge bat1 at 60 kW for 30 minutes"
        code = ask(text)["confirm"]
        url = f"{base}/api/ask/propose"
        wrong = call("POST", url, token=tokens["operator"], body={"text": text, "confirm": "nope"})
        assert wrong.status == 409 and "read-back" in wrong.json()["detail"]
        viewer = call("POST", url, token=tokens["viewer"], body={"text": text, "confirm": code})
        assert viewer.status == 403
        ok = call("POST", url, token=tokens["operator"], body={"text": text, "confirm": code})
        assert ok.status == 200, ok.body
        log = EventLog(tmp_path / "events.db")
        queued = [e.payload for e in log.events(kinds=("agent.intent_requested",))]
        log.close()
        assert [(q["user"], q["intent"]["action"], q["intent"]["value"]) for q in queued] == [
            ("operator", "charge", -60.0)
        ]
        # warm latency of the rules path through the API
        took = []
        for text in ["discharge bat1 at 100 kW until 19:00", "soc bat1?", "stop battery one"] * 10:
            started = time.perf_counter()
            ask(text)
            took.append(time.perf_counter() - started)
        p95 = sorted(took)[int(0.95 * len(took))]
        assert p95 <= 1.0, f"p95 {p95:.3f} s"
        # the CLI asks the running runtime
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "firmware-bridge")]),
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "runtime.cli",
                "ask",
                "how full is the community battery",
                "--api",
                base,
                "--token",
                tokens["viewer"],
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=REPO,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "62.4 %" in done.stdout and "bat1.soc_pct" in done.stdout


def test_the_previews_approval_rule_is_productions(tmp_path: Path) -> None:
    """The preview's approval rule is the one the conductor applies: a curtailment on the
    kW it sheds (the cold store's 512.6 kW, 30 % of it: one operator), not 'none'; a 0 kW setpoint
    (stop) is 'auto', not 'none'. Both the API and ``gridaios ask`` (its ``_preview``)."""
    from runtime.cli.ask import _preview
    from runtime.decide.approval_rule import approval_requirement
    from runtime.words.command import to_command
    from runtime.words.confirm import assumed_state
    from runtime.words.understand import understand
    from runtime.words.vocab import vocabulary

    config = _config()

    def live() -> StateSnapshot:
        snap = _live()
        readings = dict(snap.readings)
        ts = F.NOW - timedelta(seconds=5)
        for point in ("pv1.curtail_pct", "load1.curtail_pct"):
            readings[point] = Reading(point=point, value=0.0, ts=ts, quality=Quality.GOOD)
        return StateSnapshot(readings=readings)

    def production(text: str, snapshot: StateSnapshot, value: float) -> str:
        u = understand(text, vocabulary(config), F.NOW, ZoneInfo("UTC"), default_s=1800)
        command = to_command(u, key="k", now=F.NOW)
        assert command is not None
        return approval_requirement(config, command, value, snapshot)[0].value

    F.build(tmp_path / "events.db").close()
    tokens = add_users(tmp_path / "users.db")
    ctx = ApiContext(
        events_path=tmp_path / "events.db",
        users_path=tmp_path / "users.db",
        config=config,
        state_provider=live,
        clock=FixedClock(F.NOW),
    )
    with served(ctx) as base:
        r = call(
            "POST",
            f"{base}/api/ask",
            token=tokens["viewer"],
            body={"text": "curtail load1 by 30 %"},
        )
        assert r.status == 200, r.body
        out = r.json()
    value = out["verdict"]["value"]
    assert out["verdict"]["outcome"] in ("accepted", "clamped") and value, out["verdict"]
    assert out["approval"] == production("curtail load1 by 30 %", live(), value)
    assert out["approval"] in ("one_operator", "two_operators")

    u = understand("stop bat1", vocabulary(config), F.NOW, ZoneInfo("UTC"), default_s=1800)
    preview = _preview(u, config, F.NOW, "config")
    assert preview["verdict"]["value"] == 0.0
    snapshot = assumed_state(config, F.NOW)
    assert preview["approval"] == production("stop bat1", snapshot, 0.0) == "auto"

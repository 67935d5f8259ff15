"""`gridaios safety check|example` through the real command line: exit codes 0, 1, 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DEMO = str(Path(__file__).resolve().parents[2] / "configs" / "demo-feeder.yaml")
NOW = "2026-07-15T18:00:00+00:00"
GRIDAIOS = str(Path(sys.executable).with_name("gridaios"))  # the installed console script


def gridaios(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GRIDAIOS, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    done = gridaios("safety", "example", "--config", DEMO, "--now", NOW)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def _write(tmp: Path, name: str, data: object) -> str:
    path = tmp / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_example_round_trips_through_check(example: dict[str, Any], tmp_path: Path) -> None:
    assert set(example) == {"state", "plan"}
    assert example["state"]["now"] == NOW
    assert len(example["plan"]["commands"]) >= 3  # battery, pv and load commands
    state = _write(tmp_path, "state.json", example["state"])
    plan = _write(tmp_path, "plan.json", example["plan"])
    done = gridaios("safety", "check", "--config", DEMO, "--state", state, "--plan", plan)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 clamped, 0 rejected" in done.stdout
    both = _write(tmp_path, "both.json", example)
    done = gridaios("safety", "check", "--config", DEMO, "--state", both, "--plan", both)
    assert done.returncode == 0


def test_clamped_and_rejected_exit_1_with_reasons(example: dict[str, Any], tmp_path: Path) -> None:
    plan = example["plan"]
    bat = next(c for c in plan["commands"] if c["asset"] == "bat1")
    bat["value"] = 900
    plan["commands"].append({**bat, "key": "ghost", "asset": "bat9", "value": 10})
    state = _write(tmp_path, "state.json", example["state"])
    path = _write(tmp_path, "plan.json", plan)
    done = gridaios("safety", "check", "--config", DEMO, "--state", state, "--plan", path, "--json")
    assert done.returncode == 1, done.stderr
    out = json.loads(done.stdout)
    rows = {r["key"]: r for r in out["verdicts"]}
    assert rows[bat["key"]]["outcome"] == "clamped"
    assert rows[bat["key"]]["approved_value"] == 200  # the 200 kW/min ramp from 0 kW
    assert {c["id"] for c in rows[bat["key"]]["constraints"]} >= {"limit.max", "ramp"}
    assert rows["ghost"]["outcome"] == "rejected"
    assert rows["ghost"]["constraints"][0]["id"] == "asset.unknown"
    assert out["summary"] == {"accepted": 2, "clamped": 1, "rejected": 1}


def test_nan_and_bad_times_are_gate_rejections_not_crashes(
    example: dict[str, Any], tmp_path: Path
) -> None:
    command = example["plan"]["commands"][0]
    bad = [{**command, "key": "nan", "value": float("nan")}, {**command, "key": "t", "end": NOW}]
    state = _write(tmp_path, "state.json", example["state"])
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"commands": bad}), encoding="utf-8")  # NaN as JSON allows
    done = gridaios("safety", "check", "--config", DEMO, "--state", state, "--plan", str(plan))
    assert done.returncode == 1
    assert "[input.value] value nan is not a finite number" in done.stdout
    assert "[input.time] end" in done.stdout


@pytest.mark.parametrize(
    ("which", "content", "message"),
    [
        ("state", "{not json", "state.json: line 1, column 2: JSON syntax error"),
        (
            "state",
            {"now": "2026-07-15T18:00:00", "values": []},
            'state.json: now = "2026-07-15T18:00:00": Input should have timezone info',
        ),
        (
            "state",
            {
                "now": NOW,
                "values": [{"point": "bat1.temp", "value": 1, "ts": NOW, "quality": "good"}],
            },
            "state.json: values[0].point = bat1.temp: unknown point; use asset.role",
        ),
        (
            "plan",
            {"commands": [{"key": "a"}]},
            "plan.json: commands[0].asset: required field is missing",
        ),
        (
            "plan",
            {"commands": [], "extra": 1},
            "plan.json: extra: unknown field; remove it or check its spelling",
        ),
    ],
)
def test_bad_input_exits_2_with_a_clear_error(
    example: dict[str, Any], tmp_path: Path, which: str, content: object, message: str
) -> None:
    files = {
        "state": _write(tmp_path, "state.json", example["state"]),
        "plan": _write(tmp_path, "plan.json", example["plan"]),
    }
    target = tmp_path / f"{which}.json"
    target.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    done = gridaios(
        "safety", "check", "--config", DEMO, "--state", files["state"], "--plan", files["plan"]
    )
    assert done.returncode == 2
    assert message in done.stderr, done.stderr
    assert "nothing was evaluated" in done.stderr


def test_bad_config_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text("site: [", encoding="utf-8")
    done = gridaios("safety", "example", "--config", str(bad))
    assert done.returncode == 2
    assert "YAML syntax error" in done.stderr


def test_example_moves_commands_out_of_forbidden_windows(tmp_path: Path) -> None:
    night = "2026-07-15T02:00:00+00:00"  # load1 may not be curtailed 01:00-04:00 (defrost)
    done = gridaios("safety", "example", "--config", DEMO, "--now", night)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    load = next(c for c in data["plan"]["commands"] if c["asset"] == "load1")
    assert load["start"] >= "2026-07-15T04:00:00+00:00"
    path = _write(tmp_path, "example.json", data)
    checked = gridaios("safety", "check", "--config", DEMO, "--state", path, "--plan", path)
    assert checked.returncode == 0, checked.stdout


def test_forecast_and_history_files_feed_the_plan_level_checks(
    example: dict[str, Any], tmp_path: Path
) -> None:
    state = _write(tmp_path, "state.json", example["state"])
    charge = {
        "key": "charge",
        "asset": "bat1",
        "kind": "active_power_kw",
        "value": -200,
        "start": NOW,
        "end": "2026-07-15T18:45:00+00:00",
        "origin": "operator",
    }
    plan = _write(tmp_path, "plan.json", {"commands": [charge]})
    history = _write(
        tmp_path,
        "history.json",
        {"dispatches": [{"asset": "bat1", "kind": "active_power_kw", "value": -150, "at": NOW}]},
    )
    # Without a forecast the 800 kW measured load is held flat: charging 200 kW fits.
    base = ("safety", "check", "--config", DEMO, "--state", state, "--plan", plan)
    assert gridaios(*base, "--history", history).returncode == 0
    # The forecast has the uncontrolled load at 1,500 kW in the second quarter hour.
    forecast = _write(
        tmp_path,
        "forecast.json",
        {"start": NOW, "step_s": 900, "feeder_net_kw": {"feeder": [800, 1500, 900]}},
    )
    done = gridaios(*base, "--history", history, "--forecast", forecast, "--json")
    assert done.returncode == 1, done.stderr
    (row,) = json.loads(done.stdout)["verdicts"]
    assert row["outcome"] == "rejected"
    assert [c["id"] for c in row["constraints"]] == ["thermal.feeder"]
    unknown = _write(
        tmp_path, "bad.json", {"start": NOW, "step_s": 900, "feeder_net_kw": {"f9": [1]}}
    )
    bad = gridaios(*base, "--forecast", unknown)
    assert bad.returncode == 2
    assert "bad.json: feeder_net_kw.f9 = f9: unknown feeder; known: feeder" in bad.stderr

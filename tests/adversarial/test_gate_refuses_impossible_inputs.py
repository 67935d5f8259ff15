"""Invariant: the gate passes nothing decided on impossible inputs.

Attacker: a spoofed or broken sensor, or whoever can hand the gate a state or a plan
(``gridaios safety check``, a model's proposal). Readings outside what a point can
physically read, commands starting far in the future, non-numeric values dressed as
numbers, oversized keys and unbounded plans: each refused with its reason.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.config import site
from runtime.config.load import load_config
from safety import Command, CommandKind, Origin, Quality, Reading, StateSnapshot, evaluate
from tests.adversarial.rig import REPO, gridaios, no_traceback

CONFIG = load_config(REPO / "configs" / "demo-feeder.yaml")
ENVELOPE = site.envelope(CONFIG)
NOW = datetime(2026, 7, 15, 18, 0, tzinfo=UTC)
GOOD = {
    "substation.p_kw": 800.0,
    "bat1.soc_pct": 52.5,
    "bat1.p_kw": 0.0,
    "pv1.p_kw": 200.0,
    "load1.p_kw": 300.0,
}


def _state(**over: float) -> StateSnapshot:
    values = {**GOOD, **{k.replace("__", "."): v for k, v in over.items()}}
    return StateSnapshot(
        readings={
            p: Reading(point=p, value=v, ts=NOW, quality=Quality.GOOD) for p, v in values.items()
        }
    )


def _cmd(value: float = 50.0, **kw: object) -> Command:
    base = Command(
        key="k1",
        asset="bat1",
        kind=CommandKind.ACTIVE_POWER_KW,
        value=value,
        start=NOW,
        end=NOW + timedelta(minutes=15),
        origin=Origin.OPERATOR,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _constraints(verdict: object) -> set[str]:
    return {h.constraint for h in getattr(verdict, "hits", ())}


def test_a_sane_state_and_command_pass() -> None:
    (v,) = evaluate([_cmd()], _state(), ENVELOPE, NOW)
    assert v.outcome == "accepted", v


@settings(max_examples=150, deadline=None)
@given(
    point=st.sampled_from(["bat1.soc_pct", "bat1.p_kw", "substation.p_kw"]),  # what it reads
    value=st.one_of(
        st.floats(min_value=-1e308, max_value=-0.001),
        st.floats(min_value=100.001, max_value=1e308),
    ),
)
def test_an_impossible_reading_rejects(point: str, value: float) -> None:
    ranges = ENVELOPE.plausible
    lo, hi = ranges[point]
    if lo <= value <= hi:
        return  # inside what the point can read: not this invariant's case
    (v,) = evaluate([_cmd()], _state(**{point.replace(".", "__"): value}), ENVELOPE, NOW)
    assert v.outcome == "rejected" and "state.implausible" in _constraints(v), v


def test_soc_150_and_the_ranges_per_kind() -> None:
    (v,) = evaluate([_cmd()], _state(bat1__soc_pct=150.0), ENVELOPE, NOW)
    assert v.outcome == "rejected"
    (hit,) = [h for h in v.hits if h.constraint == "state.implausible"]
    assert "bat1.soc_pct = 150" in hit.reason and "0 to 100" in hit.reason
    assert ENVELOPE.plausible["bat1.p_kw"] == (-376.0, 376.0)  # 250 kW x 1.5 + 1


@settings(max_examples=50, deadline=None)
@given(lead_h=st.floats(min_value=24.01, max_value=24 * 3650))
def test_a_command_far_in_the_future_is_refused(lead_h: float) -> None:
    start = NOW + timedelta(hours=lead_h)
    (v,) = evaluate([_cmd(start=start, end=start + timedelta(minutes=15))], _state(), ENVELOPE, NOW)
    assert v.outcome == "rejected" and "input.lead_time" in _constraints(v)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(min_value=201, max_value=2_000_000))
def test_an_oversized_key_is_refused(n: int) -> None:
    (v,) = evaluate([_cmd(key="k" * n)], _state(), ENVELOPE, NOW)
    assert v.outcome == "rejected" and "input.key" in _constraints(v)


def test_an_unbounded_plan_is_refused_quickly() -> None:
    plan = [_cmd(key=f"k{i}", start=NOW + timedelta(minutes=15 * i),
                 end=NOW + timedelta(minutes=15 * i + 15)) for i in range(100_000)]  # fmt: skip
    t0 = time.perf_counter()
    verdicts = evaluate(plan, _state(), ENVELOPE, NOW)
    elapsed = time.perf_counter() - t0
    assert all(v.outcome == "rejected" and "plan.size" in _constraints(v) for v in verdicts)
    assert elapsed < 2.0, f"{elapsed:.1f} s to refuse an oversized plan"


def test_the_shell_takes_numbers_only_as_numbers(tmp_path: Path) -> None:
    example = gridaios("safety", "example", "--config", "configs/demo-feeder.yaml")
    assert example.returncode == 0, example.stderr
    doc = json.loads(example.stdout)
    (tmp_path / "state.json").write_text(json.dumps(doc["state"]))
    state_file, plan_file = str(tmp_path / "state.json"), str(tmp_path / "plan.json")
    args = ["safety", "check", "--config", "configs/demo-feeder.yaml",
            "--state", state_file, "--plan", plan_file]  # fmt: skip
    for bad in (True, "25", [25], {"v": 25}):
        plan = json.loads(json.dumps(doc["plan"]))
        plan["commands"][0]["value"] = bad
        (tmp_path / "plan.json").write_text(json.dumps(plan))
        proc = gridaios(*args)
        no_traceback(proc)
        assert proc.returncode == 2 and "commands[0].value" in proc.stderr, (bad, proc.stdout)
    plan = json.loads(json.dumps(doc["plan"]))
    plan["commands"][0]["key"] = "k" * 1_000_000
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    proc = gridaios(*args)
    assert proc.returncode == 2 and "commands[0].key" in proc.stderr
    state = json.loads(json.dumps(doc["state"]))
    for v in state["values"]:
        if v["point"] == "bat1.soc_pct":
            v["value"] = 150.0
    (tmp_path / "state.json").write_text(json.dumps(state))
    (tmp_path / "plan.json").write_text(json.dumps(doc["plan"]))
    proc = gridaios(*args)
    assert proc.returncode == 1 and "state.implausible" in proc.stdout

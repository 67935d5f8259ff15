"""Anomaly responder: the shipped ONNX detector, hold and safe action, outage fallback."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from forecasting.onnx_models import AnomalyDetector
from runtime.agents import AgentRunner, Factories
from runtime.agents.anomaly import AnomalyAgent, onnx_scorer, zscore_scorer
from runtime.agents.base import Series

from .support import T0, conductor, config, feed, kinds, perception

CFG = config()


def window(spike_kw: float = 0.0, at: int = -4) -> Series:
    t = np.arange(32)
    values = 900 + 50 * np.sin(t / 8)
    values[at] += spike_kw
    return tuple((T0 - timedelta(minutes=32 - k), float(v)) for k, v in enumerate(values))


def ladder() -> AgentRunner:
    def missing() -> object:
        detector = AnomalyDetector(Path("/nonexistent/anomaly.onnx"))  # raises: model outage
        return detector.score

    return AgentRunner(
        "anomaly",
        [AnomalyAgent("anomaly_onnx", missing), AnomalyAgent("anomaly_zscore", zscore_scorer)],  # type: ignore[arg-type]
        cadence=timedelta(minutes=1),
        min_confidence=0.5,
    )


@pytest.mark.parametrize(
    ("spike_kw", "setpoint_kw", "flagged", "safe_action"),
    [
        (0.0, 150.0, False, None),  # normal telemetry: nothing
        (600.0, 150.0, True, 0.0),  # spike while discharging: flag, hold, back to idle
        (600.0, 0.0, True, None),  # spike while idle: flag and hold, nothing to undo
    ],
)
def test_onnx_detector_flags_holds_and_proposes_the_safe_action(
    spike_kw: float, setpoint_kw: float, flagged: bool, safe_action: float | None
) -> None:
    agent = AnomalyAgent("anomaly_onnx", lambda: onnx_scorer(int8=True))
    p = perception(
        {}, history={"substation.p_kw": window(spike_kw)}, setpoints={"bat1": setpoint_kw}
    )
    decision = agent.decide(p, CFG, T0)
    assert bool(decision.flags) is flagged
    if flagged:
        (flag,) = decision.flags
        assert flag.subject == "substation.p_kw" and flag.hold_assets == ("bat1",)
        assert flag.hold_until == T0 + timedelta(seconds=900)
        assert flag.score is not None and flag.threshold is not None
        assert flag.score > flag.threshold
    values = [pr.command.value for pr in decision.proposals]
    assert values == ([] if safe_action is None else [safe_action])


def test_too_few_samples_waits() -> None:
    agent = AnomalyAgent("anomaly_onnx", lambda: onnx_scorer(int8=True))
    p = perception({}, history={"substation.p_kw": window()[:10]})
    decision = agent.decide(p, CFG, T0)
    assert decision.flags == () and "collecting" in decision.rationale


def test_model_outage_falls_to_the_rule_detector() -> None:
    p = perception({}, history={"substation.p_kw": window(600.0)}, setpoints={"bat1": 100.0})
    step = ladder().step(p, CFG, T0)
    assert step.tier == "anomaly_zscore"
    assert "ModelUnavailable" in step.errors[0]
    assert step.decision.flags and step.decision.proposals[0].command.value == 0.0
    normal = ladder().step(perception({}, history={"substation.p_kw": window()}), CFG, T0)
    assert normal.tier == "anomaly_zscore" and normal.decision.flags == ()


async def test_an_anomaly_holds_the_battery_against_the_other_agents(tmp_path: Path) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["agents"]["anomaly"] = {"enabled": True, "cadence_s": 60}
        raw["agents"]["peak_shaving"].update(cadence_s=60, forecast=False)
        raw["approvals"]["auto_approve_max_kw"] = 0  # an operator signs off: nothing is sent

    def outage() -> Any:  # the model file is gone: the z-score tier answers
        return AnomalyDetector(Path("/nonexistent/anomaly.onnx"))

    c, _clock, events = conductor(tmp_path, config(edit), factories=Factories(anomaly_model=outage))
    field = {"bat1.p_kw": 0.0, "bat1.soc_pct": 80.0, "pv1.p_kw": 0.0, "load1.p_kw": 200.0}
    for k in range(32):
        now = T0 + timedelta(minutes=k)
        meter_kw = 1600.0 if k == 31 else 900 + 20 * math.sin(k / 5)  # a spike on the last
        feed(c, {**field, "substation.p_kw": meter_kw}, now)
        await c.cycle(now, due_only=True)
    (flag,) = kinds(events, "agent.flagged")
    assert flag.payload["subject"] == "substation.p_kw"
    assert flag.payload["hold_assets"] == ["bat1"]
    assert not kinds(events, "dispatch.proposed")  # the rule's 500 kW was not acted on
    decided = {e.payload["agent"]: e.payload for e in kinds(events, "agent.decided")}
    assert decided["anomaly"]["tier"] == "anomaly_zscore"
    assert "ModelUnavailable" in decided["anomaly"]["errors"][0]
    assert "bat1 is held by an anomaly" in decided["peak_shaving"]["rationale"]
    assert c.agents.holds["bat1"] == T0 + timedelta(minutes=31, seconds=900)
    events.close()

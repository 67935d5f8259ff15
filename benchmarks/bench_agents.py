"""Agents: what a decision step costs on top of the function it wraps.

Rows (baselines measured in the same run, median per call):
- ``agents.runner_step_rule``: ``AgentRunner.step`` around the peak-shaving rule
  (ladder, metrics, stats) vs calling ``runtime.decide.policy.peak_shaving`` directly.
- ``agents.forecast_tier_decide``: the forecast-aware tier with 30 h of 5-min history
  (polars frame, clean to 15 min, seasonal naive, confidence; computed, not memoised) vs
  the rule agent. In the loop the forecast is reused until a 15-min step completes.
- ``agents.anomaly_onnx_decide``: the anomaly agent on the shipped int8 ONNX detector vs
  the same agent on the z-score rule (skipped when onnxruntime is not installed).

Run: ``python -m benchmarks.bench_agents`` (or through the benchmark harness).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from benchmarks.util import row
from runtime.agents import AgentRunner, Perception
from runtime.agents.anomaly import AnomalyAgent, onnx_scorer, zscore_scorer
from runtime.agents.peak import UNCONTROLLED, ForecastPeakAgent, RulePeakAgent
from runtime.config.model import parse_config
from runtime.decide.policy import peak_shaving
from safety import Quality, Reading, StateSnapshot

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 7, 15, 16, 0, tzinfo=UTC)


def _config() -> Any:
    raw = yaml.safe_load((REPO / "configs" / "demo-feeder.yaml").read_text(encoding="utf-8"))
    raw["feeder"]["network"] = None
    return parse_config(yaml.safe_dump(raw))


def _load(t: datetime) -> float:
    hour = t.hour + t.minute / 60
    return 900 + 400 * math.exp(-(((hour - 19) / 1.5) ** 2))


def _median_s(fn: Callable[[], object], n: int) -> float:
    fn()  # warm up (imports, sessions)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run() -> list[dict[str, Any]]:
    cfg = _config()
    values = {"substation.p_kw": 1300.0, "bat1.p_kw": 0.0, "bat1.soc_pct": 60.0}
    snap = StateSnapshot(
        readings={
            p: Reading(point=p, value=v, ts=NOW, quality=Quality.GOOD) for p, v in values.items()
        }
    )
    history = tuple(
        (NOW - timedelta(minutes=5 * k), _load(NOW - timedelta(minutes=5 * k)))
        for k in range(360, 0, -1)
    )
    perception = Perception(snapshot=snap, history={UNCONTROLLED: history})
    policy = cfg.policy.peak_shaving
    rule = RulePeakAgent()
    runner = AgentRunner(
        "bench", [rule], cadence=timedelta(minutes=5), min_confidence=0.5, fallback=rule
    )

    def bare() -> object:
        return peak_shaving(
            snap,
            policy,
            site_id="demo-feeder",
            meter="substation",
            max_discharge_kw=250,
            last_setpoint_kw=0.0,
            now=NOW,
        )

    rows = []
    step_s = _median_s(lambda: runner.step(perception, cfg, NOW), 5000)
    bare_s = _median_s(bare, 5000)
    rows.append(
        row("agents.runner_step_rule", step_s * 1e6, "us", bare_s * 1e6, higher_is_better=False)
    )
    assert ForecastPeakAgent().decide(perception, cfg, NOW).confidence > 0.9
    # a fresh agent per call: the forecast is computed, not reused from the 15-min memo
    fc_s = _median_s(lambda: ForecastPeakAgent().decide(perception, cfg, NOW), 200)
    rule_s = _median_s(lambda: rule.decide(perception, cfg, NOW), 5000)
    rows.append(
        row("agents.forecast_tier_decide", fc_s * 1e6, "us", rule_s * 1e6, higher_is_better=False)
    )
    window = tuple(
        (NOW - timedelta(minutes=k), _load(NOW - timedelta(minutes=k))) for k in range(32)
    )
    anomaly_in = Perception(snapshot=snap, history={"substation.p_kw": window[::-1]})
    try:
        onnx = AnomalyAgent("onnx", lambda: onnx_scorer(int8=True))
        onnx.decide(anomaly_in, cfg, NOW)
    except ImportError:
        return rows
    rule_a = AnomalyAgent("zscore", zscore_scorer)
    onnx_s = _median_s(lambda: onnx.decide(anomaly_in, cfg, NOW), 2000)
    z_s = _median_s(lambda: rule_a.decide(anomaly_in, cfg, NOW), 2000)
    rows.append(
        row("agents.anomaly_onnx_decide", onnx_s * 1e6, "us", z_s * 1e6, higher_is_better=False)
    )
    return rows


if __name__ == "__main__":
    for r in run():
        print(json.dumps(r))

"""A 24 h / 5-min pre-dispatch validation of the 33-bus feeder with 10 DERs.

``validate_dispatch`` runs the plan and the no-action baseline (2 x 288
snapshots) through one batched power flow. The baseline, in the same run, is
the same validation done the naive way: one power flow call per snapshot with
the same solver (576 calls), which is what a per-step simulation loop costs.
The issue's target is <= 0.5 s.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from benchmarks.util import row
from simulator import prepare, solve
from simulator.examples import case33_day
from simulator.horizon import build_horizon
from simulator.validation import validate_dispatch


def run() -> list[dict[str, Any]]:
    net, forecast, state, plan = case33_day()
    report = validate_dispatch(net, state, forecast, plan)
    if not report.converged:
        raise AssertionError(report.summary())

    def batched() -> None:
        validate_dispatch(net, state, forecast, plan)

    def naive() -> None:
        prepared = prepare(net)
        for commands in (plan, []):
            h = build_horizon(net, state, forecast, commands, seed=0)
            for k in range(forecast.steps):
                solve(prepared, h.p_mw[k], h.q_mvar[k])

    batched()
    fast = statistics.median(_time(batched) for _ in range(5))
    slow = statistics.median(_time(naive) for _ in range(2))
    return [
        row(
            "validation.case33_10der_24h_5min",
            fast,
            "s",
            slow,
            higher_is_better=False,
            baseline_name="same validation, one power flow call per step",
            steps=forecast.steps,
            violations=len(report.violations),
            peak_kw_plan=round(report.plan.peak_import_kw, 1),
            peak_kw_baseline=round(report.baseline.peak_import_kw, 1),
            snapshots=2 * forecast.steps,
            vmin_pu=round(float(np.min(report.plan_series.vmin_pu)), 4),
        )
    ]


def _time(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0

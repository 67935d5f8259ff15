"""One simulated day of the demo feeder through the full decision loop, in simulated time.

288 five-minute cycles (``configs/scenarios/demo-day.yaml``) on one shadow side:
each cycle the conductor's agents propose (DR events; peak shaving: the forecast
tier on the side's 30 h history, the rule when unsure), then a seasonal-naive
twin forecast, the safety gate, the twin validation and the power flow on the
feeder's network, and the approval rule; the side's SimPy battery model steps
every 10 s in between. The issue's target is <= 60 s for the day (>= 1,440x
real time). The forecast tier's one-time import of ``forecasting`` (statsforecast)
is timed apart (``first_forecast_import_s``), as a running conductor pays it once.

Baseline, in the same run: the same day and battery model with the policy alone
(the bare rule's proposals applied unchecked: no agents, forecast, gate or
validation), so the ratio says what the agents and the checks cost. A second
row times a whole ``gridaios shadow`` comparison (production and a candidate,
both full loops), and a third the worst case for the checks: a policy that
proposes at every cycle (no deadband), so the gate, the twin and the power flow run 289 times.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from benchmarks.util import row
from runtime.config.model import load_config
from runtime.decide.step import ActivePolicy, DecisionContext, resolve_policy
from runtime.demo.feeder import DEFAULT_CONFIG, SCENARIO_DIR
from runtime.shadow import Mode, from_scenario, run_shadow, run_side
from runtime.shadow.kpis import by_tier
from simulator import load_scenario

DAY_S = 86400.0


def run() -> list[dict[str, Any]]:
    config = load_config(DEFAULT_CONFIG)
    inputs = from_scenario(config, load_scenario("demo-day", SCENARIO_DIR))
    ctx = DecisionContext.from_config(config)  # loads the network once, as the conductor does
    forecasting = resolve_policy(config, "seasonal-forecast")
    production = resolve_policy(config, "production")
    t0 = time.perf_counter()
    importlib.import_module("forecasting.short_term")  # what the forecast tier loads once
    import_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    full = run_side(config, ctx, inputs, forecasting)
    full_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    bare = run_side(config, ctx, inputs, forecasting, mode=Mode.POLICY_ONLY)
    bare_s = time.perf_counter() - t0
    # Worst case for the checks: a policy that proposes at (nearly) every cycle, so the
    # gate, the twin and the power flow run 289 times instead of when the load moves.
    busy = ActivePolicy(
        name="busy",
        peak_shaving=forecasting.peak_shaving.model_copy(
            update={"threshold_kw": 400.0, "deadband_kw": 0.0}
        ),
        forecast="seasonal_naive",
    )
    t0 = time.perf_counter()
    stressed = run_side(config, ctx, inputs, busy)
    stressed_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_side(config, ctx, inputs, busy, mode=Mode.POLICY_ONLY)
    stressed_bare_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    both = run_shadow(config, inputs, production, forecasting, ctx=ctx)
    both_s = time.perf_counter() - t0
    if full.cycles != 289 or full.kpis.proposals == 0:
        raise AssertionError(f"expected 289 cycles with proposals, got {full.cycles}, {full.kpis}")
    grid_checks = sum(1 for ds in full.decisions.values() for d in ds if d.grid is not None)
    return [
        row(
            "shadow.demo_day_full_loop",
            full_s,
            "s",
            bare_s,
            higher_is_better=False,
            baseline_name="same day, rule alone (no agents, forecast, gate or validation)",
            x_real_time=round(DAY_S / full_s, 1),
            target_s=60.0,
            cycles=full.cycles,
            proposals=full.kpis.proposals,
            power_flow_checks=grid_checks,
            forecast_fallbacks=full.forecast_fallbacks,
            peak_kw=round(full.kpis.peak_kw, 1),
            baseline_peak_kw=round(bare.kpis.peak_kw, 1),
            proposals_by_tier=by_tier(full.decisions),
            first_forecast_import_s=round(import_s, 2),
        ),
        row(
            "shadow.demo_day_checks_every_cycle",
            stressed_s,
            "s",
            stressed_bare_s,
            higher_is_better=False,
            baseline_name="same day and policy, rule alone (no agents, forecast, gate, checks)",
            x_real_time=round(DAY_S / stressed_s, 1),
            target_s=60.0,
            cycles=stressed.cycles,
            proposals=stressed.kpis.proposals,
            power_flow_checks=sum(
                1 for ds in stressed.decisions.values() for d in ds if d.grid is not None
            ),
        ),
        row(
            "shadow.demo_day_two_sides",
            both_s,
            "s",
            2 * full_s,
            higher_is_better=False,
            baseline_name="two single full-loop sides",
            x_real_time=round(DAY_S / both_s, 1),
            decisions_differ=both.decisions_differ,
        ),
    ]


if __name__ == "__main__":
    import json

    for r in run():
        print(json.dumps(r))

"""Peak shaving: the rule agent (table), the forecast-aware tier and its fallbacks."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from forecasting.onnx_models import ModelUnavailable
from runtime.agents import AgentRunner, DrEvent, Perception
from runtime.agents.base import Series
from runtime.agents.peak import (
    UNCONTROLLED,
    ForecastPeakAgent,
    LoadForecast,
    RulePeakAgent,
    seasonal_naive_forecast,
)
from runtime.conductor.loop import Conductor
from runtime.core.clock import FixedClock
from runtime.ingest.historian import Historian
from runtime.log.eventlog import EventLog
from safety import Origin

from .support import T0, config, feed, kinds, perception

CFG = config()  # threshold 1100 kW, deadband 15 kW, bat1 250 kW


@pytest.mark.parametrize(
    ("meter_kw", "battery_kw", "last_kw", "expected"),
    [
        (1300, 0, 0, 200.0),  # 200 kW above threshold: discharge it
        (1050, 0, 0, None),  # below threshold, idle: nothing to do
        (1000, 150, 150, 50.0),  # the load fell: discharge less
        (1110, 0, 0, None),  # 10 kW above, inside the deadband
        (900, 100, 100, 0.0),  # well below: stop discharging
    ],
)
def test_rule_agent_table(
    meter_kw: float, battery_kw: float, last_kw: float, expected: float | None
) -> None:
    p = perception(
        {"substation.p_kw": meter_kw, "bat1.p_kw": battery_kw, "bat1.soc_pct": 80},
        setpoints={"bat1": last_kw},
    )
    decision = RulePeakAgent().decide(p, CFG, T0)
    values = [pr.command.value for pr in decision.proposals]
    assert values == ([] if expected is None else [expected])
    assert all(pr.policy == "peak_shaving" for pr in decision.proposals)  # replay knows it


def daily_load(t: datetime) -> float:
    """900 kW with an evening bump to 1300 kW at 19:00, every day."""
    hour = t.hour + t.minute / 60
    return 900 + 400 * math.exp(-(((hour - 19) / 1.5) ** 2))


def history(now: datetime, hours: float, load: object = daily_load) -> Series:
    n = int(hours * 12)
    return tuple(
        (now - timedelta(minutes=5 * k), float(load(now - timedelta(minutes=5 * k))))  # type: ignore[operator]
        for k in range(n, 0, -1)
    )


AFTERNOON = T0.replace(hour=16)


def afternoon(hist: Series, soc: float = 60, **kw: object) -> Perception:
    return perception(
        {"substation.p_kw": daily_load(AFTERNOON), "bat1.p_kw": 0, "bat1.soc_pct": soc},
        AFTERNOON,
        history={UNCONTROLLED: hist},
        **kw,
    )


def test_seasonal_naive_forecast_sees_tomorrows_peak_with_full_confidence() -> None:
    fc = seasonal_naive_forecast(history(AFTERNOON, 30), AFTERNOON)
    assert fc.confidence == pytest.approx(1.0, abs=0.02)  # every day is the same
    assert len(fc.values_kw) == 16 and fc.step == timedelta(minutes=15)
    assert max(fc.values_kw) > 1250


def test_forecast_peak_ahead_precharges_with_the_feeder_headroom() -> None:
    decision = ForecastPeakAgent().decide(afternoon(history(AFTERNOON, 30)), CFG, AFTERNOON)
    (p,) = decision.proposals
    headroom = 1100 - daily_load(AFTERNOON) - 15
    assert p.command.value == -round(min(250, headroom))
    assert p.command.origin is Origin.MODEL and p.policy == "peak_forecast"
    assert "forecast peak" in p.rationale and decision.confidence > 0.95


def test_full_battery_does_not_precharge() -> None:
    decision = ForecastPeakAgent().decide(afternoon(history(AFTERNOON, 30), soc=92), CFG, AFTERNOON)
    assert decision.proposals == ()


def test_dr_window_ahead_precharges_even_on_a_flat_forecast() -> None:
    flat = history(AFTERNOON, 30, load=lambda t: 800.0)
    event = DrEvent(
        event_id="dr-1",
        target_kw=700,
        start=AFTERNOON + timedelta(hours=1),
        end=AFTERNOON + timedelta(hours=3),
    )
    p = perception(
        {"substation.p_kw": 800, "bat1.p_kw": 0, "bat1.soc_pct": 50},
        AFTERNOON,
        history={UNCONTROLLED: flat},
        dr_events=(event,),
    )
    (prop,) = ForecastPeakAgent().decide(p, CFG, AFTERNOON).proposals
    assert prop.command.value == -250  # headroom 285 kW, limited by the charge rating
    assert "DR event dr-1" in prop.rationale


def ladder(agent: ForecastPeakAgent) -> AgentRunner:
    rule = RulePeakAgent()
    return AgentRunner(
        "peak_shaving",
        [agent, rule],
        cadence=timedelta(minutes=5),
        min_confidence=0.6,
        fallback=rule,
    )


PEAK_NOW = {"substation.p_kw": 1300.0, "bat1.p_kw": 0.0, "bat1.soc_pct": 80.0}


def test_too_little_history_is_low_confidence_and_the_rule_decides() -> None:
    p = perception(PEAK_NOW, history={UNCONTROLLED: history(T0, 3)})
    step = ladder(ForecastPeakAgent()).step(p, CFG, T0)
    assert step.tier == "peak_rule"
    assert step.fallback.startswith("peak_forecast confidence 0.00 < 0.60")
    assert [pr.command.value for pr in step.decision.proposals] == [200.0]
    assert step.errors == ()


def test_a_day_unlike_yesterday_is_low_confidence() -> None:
    def drifting(t: datetime) -> float:  # today is twice yesterday: the naive forecast is poor
        return 400.0 if t < T0 - timedelta(hours=6) else 900.0

    p = perception(PEAK_NOW, history={UNCONTROLLED: history(T0, 30, load=drifting)})
    step = ladder(ForecastPeakAgent()).step(p, CFG, T0)
    assert step.tier == "peak_rule" and "confidence" in step.fallback


def test_model_outage_falls_to_the_rule_tier() -> None:
    def broken(series: Series, now: datetime) -> LoadForecast:
        raise ModelUnavailable("model file forecasting/models/forecaster.onnx not found")

    p = perception(PEAK_NOW, history={UNCONTROLLED: history(T0, 30)})
    step = ladder(ForecastPeakAgent(broken)).step(p, CFG, T0)
    assert step.tier == "peak_rule"
    assert step.errors and "ModelUnavailable" in step.errors[0]
    assert [pr.command.value for pr in step.decision.proposals] == [200.0]


def test_the_forecast_is_reused_until_a_15_minute_step_completes() -> None:
    calls: list[datetime] = []

    def counting(series: Series, now: datetime) -> LoadForecast:
        calls.append(now)
        return seasonal_naive_forecast(series, now)

    agent = ForecastPeakAgent(counting)
    for minutes in (0, 5, 10, 15):
        now = AFTERNOON + timedelta(minutes=minutes)
        agent.decide(afternoon(history(now, 30)), CFG, now)
    # 16:00 -> 15:55 bucket 15:45; 16:05, 16:10 -> bucket 16:00; 16:15 -> 16:00 as well
    assert len(calls) == 2


async def test_history_from_the_historian_lets_the_forecast_tier_decide_at_once(
    tmp_path: Path,
) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["approvals"]["auto_approve_max_kw"] = 0  # an operator signs off: nothing is sent

    historian = Historian(tmp_path / "history")
    for k in range(30 * 60, 0, -1):  # 30 h of 1-min telemetry from a previous run
        t = AFTERNOON - timedelta(minutes=k)
        historian.add("substation.p_kw", t, daily_load(t))
        historian.add("bat1.p_kw", t, 0.0)
    historian.flush()
    events = EventLog(tmp_path / "events.db")
    c = Conductor(config(edit), events, FixedClock(AFTERNOON), historian=historian)
    field = {
        "substation.p_kw": daily_load(AFTERNOON),
        "bat1.p_kw": 0.0,
        "bat1.soc_pct": 60.0,
        "pv1.p_kw": 0.0,
        "pv1.curtail_pct": 0.0,
        "load1.p_kw": 200.0,
        "load1.curtail_pct": 0.0,
    }
    feed(c, field, AFTERNOON)
    await c.cycle(AFTERNOON)
    (decided,) = [e.payload for e in kinds(events, "agent.decided")]
    assert decided["agent"] == "peak_shaving"
    assert decided["tier"] == "peak_forecast" and decided["fallback"] == ""
    assert decided["confidence"] > 0.9
    (proposed,) = kinds(events, "dispatch.proposed")
    assert proposed.payload["policy"] == "peak_forecast"
    assert proposed.payload["command"]["value"] < 0  # charging ahead of the 19:00 peak
    assert proposed.payload["command"]["origin"] == "model"
    events.close()

"""Peak shaving / demand response: the skeleton's rule policy and a forecast-aware tier.

``RulePeakAgent`` wraps ``runtime.decide.policy.peak_shaving`` unchanged (replay re-runs
it from the log). ``ForecastPeakAgent`` reads a load forecast (seasonal naive from
``forecasting.short_term`` by default) and pre-positions the battery: when a
peak above the threshold, or a DR event window, is coming within the lookahead and
the battery is below its pre-charge SoC, it charges with the headroom the feeder
has now. At or above the threshold it discharges exactly like the rule. Its
confidence is the forecast's: one minus the seasonal-naive error over the last
four hours, so a day unlike yesterday hands the decision back to the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from runtime.agents.base import Decision, Perception, Series
from runtime.config.model import SiteConfig
from runtime.config.site import point_id
from runtime.decide.policy import Proposal, command_key, peak_shaving
from safety import Command, CommandKind, Origin

UNCONTROLLED = "feeder.uncontrolled_kw"  # history key: meter import plus battery output
STEP = timedelta(minutes=15)
DAY_STEPS = 96
CHECK_STEPS = 16  # the last 4 h judge the forecast


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadForecast:
    start: datetime  # time of the first value
    step: timedelta
    values_kw: tuple[float, ...]
    confidence: float
    model: str


Forecaster = Callable[[Series, datetime], LoadForecast]


class NotEnoughHistory(Exception):
    """Fewer samples than the forecaster needs; not an outage: the rule decides."""


def seasonal_naive_forecast(series: Series, now: datetime) -> LoadForecast:
    """Tomorrow looks like today: ``forecasting``'s seasonal-naive on a clean 15-min grid."""
    span = series[-1][0] - series[0][0] if series else timedelta(0)
    need = STEP * (DAY_STEPS + CHECK_STEPS)
    if span < need:
        raise NotEnoughHistory(f"has {span.total_seconds() / 3600:.1f} h of load, needs 28 h")
    # imported on first use: the package loads statsforecast (seconds on an edge box)
    import polars as pl

    from forecasting import ForecastError, clean
    from forecasting.short_term import seasonal_naive

    frame = pl.DataFrame(
        {
            "unique_id": ["feeder"] * len(series),
            "ds": [t.astimezone(UTC) for t, _ in series],
            "y": [v for _, v in series],
        }
    )
    try:
        grid = clean(frame, "15m")
        out = seasonal_naive(grid)
    except ForecastError as err:
        raise NotEnoughHistory(str(err)) from err
    y = grid.frame["y"].to_numpy()
    recent, day_before = y[-CHECK_STEPS:], y[-CHECK_STEPS - DAY_STEPS : -DAY_STEPS]
    scale = max(float(abs(recent).mean()), 1e-6)
    error = float(abs(recent - day_before).mean()) / scale
    return LoadForecast(
        start=out["ds"][0],
        step=STEP,
        values_kw=tuple(float(v) for v in out["yhat"]),
        confidence=max(0.0, 1.0 - error),
        model="seasonal_naive (forecasting.short_term)",
    )


class RulePeakAgent:
    """The skeleton's rule policy as an agent: deterministic, full confidence."""

    name = "peak_rule"

    def decide(self, perception: Perception, config: SiteConfig, now: datetime) -> Decision:
        policy = config.policy.peak_shaving
        proposals = peak_shaving(
            perception.snapshot,
            policy,
            site_id=config.site.id,
            meter=config.feeder.meter,
            max_discharge_kw=config.battery(policy.battery).max_discharge_kw,
            last_setpoint_kw=perception.setpoints.get(policy.battery, 0.0),
            now=now,
        )
        why = proposals[0].rationale if proposals else "within the deadband: no change"
        return Decision(proposals=tuple(proposals), confidence=1.0, rationale=why)


class ForecastPeakAgent:
    """Pre-positions the battery for a forecast peak or a DR window; else the rule."""

    name = "peak_forecast"

    def __init__(self, forecaster: Forecaster = seasonal_naive_forecast) -> None:
        self.forecaster = forecaster
        self.rule = RulePeakAgent()
        self._memo: tuple[datetime, LoadForecast] | None = None

    def _forecast(self, series: Series, now: datetime) -> LoadForecast:
        """The forecast changes only when a 15-min step completes: reuse it until then."""
        if not series:
            return self.forecaster(series, now)
        last = series[-1][0]
        bucket = last - (last - last.replace(minute=0, second=0, microsecond=0)) % STEP
        if self._memo is not None and self._memo[0] == bucket:
            return self._memo[1]
        forecast = self.forecaster(series, now)
        self._memo = (bucket, forecast)
        return forecast

    def decide(self, perception: Perception, config: SiteConfig, now: datetime) -> Decision:
        policy = config.policy.peak_shaving
        tuning = config.agents.peak_shaving
        battery = config.battery(policy.battery)
        series = perception.history.get(UNCONTROLLED, ())
        try:
            forecast = self._forecast(series, now)
        except NotEnoughHistory as err:
            return Decision(confidence=0.0, rationale=f"forecast unavailable: {err}")
        meter = perception.snapshot.get(point_id(config.feeder.meter, "p_kw"))
        out = perception.snapshot.get(point_id(policy.battery, "p_kw"))
        soc = perception.snapshot.get(point_id(policy.battery, "soc_pct"))
        if meter is None or out is None or soc is None:
            return Decision(confidence=forecast.confidence, rationale="cannot perceive: hold")
        uncontrolled_kw = meter.value + out.value
        horizon = now + timedelta(hours=tuning.lookahead_h)
        ahead = [
            v
            for i, v in enumerate(forecast.values_kw)
            if now <= forecast.start + forecast.step * i < horizon
        ]
        peak_kw = max(ahead, default=0.0)
        dr_soon = [
            e.event_id
            for e in perception.dr_events
            if now < e.start < horizon and e.applies_to(policy.battery)
        ]
        why_charge = ""
        if peak_kw > policy.threshold_kw:
            why_charge = f"forecast peak {peak_kw:.0f} kW within {tuning.lookahead_h:g} h"
        if dr_soon:
            why_charge = f"DR event {', '.join(dr_soon)} starts within {tuning.lookahead_h:g} h"
        if (
            uncontrolled_kw >= policy.threshold_kw
            or not why_charge
            or soc.value >= tuning.precharge_soc_pct
        ):
            rule = self.rule.decide(perception, config, now)
            return Decision(
                proposals=rule.proposals,
                confidence=forecast.confidence,
                rationale=f"{rule.rationale} (forecast peak {peak_kw:.0f} kW)",
            )
        headroom_kw = policy.threshold_kw - uncontrolled_kw - policy.deadband_kw
        charge_kw = float(round(min(battery.max_charge_kw, max(headroom_kw, 0.0))))
        last = perception.setpoints.get(policy.battery, 0.0)
        if charge_kw <= 0 or abs(-charge_kw - last) <= policy.deadband_kw:
            return Decision(
                confidence=forecast.confidence,
                rationale=f"{why_charge}; no headroom to charge or already charging",
            )
        command = Command(
            key=command_key(config.site.id, policy.battery, now),
            asset=policy.battery,
            kind=CommandKind.ACTIVE_POWER_KW,
            value=-charge_kw,
            start=now,
            end=now + timedelta(seconds=policy.command_duration_s),
            origin=Origin.MODEL,
        )
        rationale = (
            f"{why_charge} and SoC {soc.value:.0f}% < {tuning.precharge_soc_pct:g}%: "
            f"charge {charge_kw:.0f} kW while the feeder has {headroom_kw:.0f} kW headroom"
        )
        proposal = Proposal(
            command=command,
            policy="peak_forecast",
            rationale=rationale,
            inputs={
                "uncontrolled_kw": uncontrolled_kw,
                "forecast_peak_kw": peak_kw,
                "soc_pct": soc.value,
                "confidence": forecast.confidence,
            },
        )
        return Decision(proposals=(proposal,), confidence=forecast.confidence, rationale=rationale)

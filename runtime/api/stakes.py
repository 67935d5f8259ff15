"""What is at stake in an approval request, in words an operator reads at 2 a.m. (issue #19 item 4).

Pure: the request's detail (``runtime.approvals.views.detail``), its proposal's snapshot and
the site config in, a dict of sentences and numbers out. It says which peak is which (the
reading that triggered the proposal, the feeder simulation, the power flow), that the
threshold is a peak-shaving target and not a grid limit, what not acting costs at the
tariff, and the setpoint with its direction ("discharge 146 kW").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from runtime.config.model import SiteConfig, TariffConfig


def setpoint_words(kind: str, value: float, asset: str = "") -> str:
    """``discharge 146 kW`` / ``charge 40 kW`` / ``curtail to 30 %`` / ``hold 0 kW``."""
    who = f"{asset}: " if asset else ""
    if kind.endswith("_pct"):
        return f"{who}curtail to {value:,.0f} %"
    if kind == "reactive_power_kvar":
        word = "inject" if value > 0 else "absorb" if value < 0 else "hold"
        return f"{who}{word} {abs(value):,.0f} kvar"
    if abs(value) < 0.05:
        return f"{who}hold 0 kW (idle)"
    word = "discharge" if value > 0 else "charge"
    return f"{who}{word} {abs(value):,.0f} kW"


def _price(tariff: TariffConfig, when: datetime, tz: ZoneInfo) -> float:
    from runtime.shadow.kpis import price_per_kwh

    return price_per_kwh(tariff, when, tz)


def stakes(
    d: Mapping[str, Any],
    config: SiteConfig | None,
    snapshot: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    commands = d.get("commands") or []
    kind = str(commands[0]["kind"]) if commands else "active_power_kw"
    value = float(d["value_kw"])
    out: dict[str, Any] = {"setpoint": setpoint_words(kind, value, str(d["asset"]))}
    peaks: list[dict[str, Any]] = []
    meter = f"{config.feeder.meter}.p_kw" if config is not None else None
    if snapshot and meter and meter in snapshot:
        peaks.append(
            {
                "source": "measured",
                "label": "feeder import when the proposal was made (the reading in 'why')",
                "without_kw": float(snapshot[meter]["value"]),
                "with_kw": None,
            }
        )
    runs = (d.get("simulation") or {}).get("runs") or []
    if runs:
        sim = runs[0]
        peaks.append(
            {
                "source": "simulation",
                "label": "feeder simulation over the plan's window (load forecast and battery "
                "model, no network losses)",
                "without_kw": float(sim["peak_kw_baseline"]),
                "with_kw": float(sim["peak_kw_plan"]),
            }
        )
    grid = d.get("grid_report")
    if isinstance(grid, Mapping) and "kpis" in grid:
        peaks.append(
            {
                "source": "power flow",
                "label": "power flow on the network twin (adds line and transformer losses "
                "and reactive power, so it reads higher)",
                "without_kw": float(grid["kpis"]["baseline"]["peak_import_kw"]),
                "with_kw": float(grid["kpis"]["plan"]["peak_import_kw"]),
            }
        )
    out["peaks"] = peaks
    if config is None:
        return out
    threshold = config.policy.peak_shaving.threshold_kw
    rating = config.feeder.transformer_rating_kw
    out["threshold_kw"] = threshold
    out["transformer_rating_kw"] = rating
    out["threshold_meaning"] = (
        f"{threshold:,.0f} kW is the peak-shaving target set in the policy, not a grid limit; "
        f"the grid limit is the transformer rating, {rating:,.0f} kW"
    )
    worst = max((p["without_kw"] for p in peaks if p["without_kw"] is not None), default=None)
    if worst is None:
        out["not_acting"] = "no simulation recorded: the cost of not acting is unknown"
        return out
    over_target = worst - threshold
    limit_words = (
        f"{rating - worst:,.0f} kW below the transformer rating: no grid limit is at risk"
        if worst < rating
        else f"{worst - rating:,.0f} kW ABOVE the transformer rating of {rating:,.0f} kW"
    )
    target_words = (
        f"{over_target:,.0f} kW above the {threshold:,.0f} kW target"
        if over_target > 0
        else f"within the {threshold:,.0f} kW target"
    )
    sentence = f"the feeder peaks at up to {worst:,.0f} kW, {target_words}; {limit_words}"
    if runs and kind == "active_power_kw":
        shifted = float(runs[0]["energy_shifted_kwh"])
        tariff = config.policy.tariff
        when = datetime.fromisoformat(str(d["requested_at"]))
        now_price = _price(tariff, when, ZoneInfo(config.safety.timezone))
        later = tariff.default_price_per_kwh
        saving = shifted * (now_price - later)
        out["cost_of_not_acting"] = round(saving, 2)
        out["currency"] = tariff.currency
        sentence += (
            f". Not acting forgoes about {saving:,.2f} {tariff.currency}: {shifted:,.0f} kWh "
            f"imported now at {now_price:.2f} {tariff.currency}/kWh instead of "
            f"{later:.2f} {tariff.currency}/kWh off-peak (tariff)"
        )
    out["not_acting"] = sentence
    return out

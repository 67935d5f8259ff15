"""Simulated KPIs of one side, the tariff, and how two sides' decisions differ."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from runtime.config.model import BatteryAsset, SiteConfig, TariffConfig
from runtime.decide.step import Decision, Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class Kpis:
    peak_kw: float
    energy_shifted_kwh: float  # energy the batteries discharged (moved out of the peak)
    violations: int  # gate rejections + simulator/grid blocks + field limit episodes
    gate_rejections: int
    validation_blocks: int
    field_violations: int  # transformer overload or SoC outside its window, per episode
    human_interventions: int  # decisions that need one or two operators
    cost: float
    currency: str
    dispatches: int  # setpoints the side's devices applied
    proposals: int
    lost_commands: int

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("peak_kw", "energy_shifted_kwh", "cost"):
            out[key] = round(out[key], 3)
        return out


def price_per_kwh(tariff: TariffConfig, when: datetime, tz: ZoneInfo) -> float:
    local = when.astimezone(tz)
    minute = local.hour * 60 + local.minute
    for period in tariff.periods:
        start, end = _minutes(period.start), _minutes(period.end)
        inside = start <= minute < end if start < end else (minute >= start or minute < end)
        if inside:
            return period.price_per_kwh
    return tariff.default_price_per_kwh


def energy_cost(
    meter_kw: Sequence[float], start: datetime, step_s: float, tariff: TariffConfig, tz: ZoneInfo
) -> float:
    """Imported energy at the time-of-use price (export is not paid)."""
    hours = step_s / 3600.0
    cost = 0.0
    prices: dict[int, float] = {}
    for i, kw in enumerate(meter_kw):
        if kw <= 0:
            continue
        when = start + timedelta(seconds=i * step_s)
        slot = int(when.timestamp() // 60)
        price = prices.get(slot)
        if price is None:
            price = prices[slot] = price_per_kwh(tariff, when, tz)
        cost += kw * hours * price
    return cost


def episodes(flags: np.ndarray) -> int:
    """Number of runs of True (a violation that lasts ten steps is one violation)."""
    if flags.size == 0:
        return 0
    rising = np.flatnonzero(flags[1:] & ~flags[:-1])
    return int(rising.size + (1 if flags[0] else 0))


def field_violations(
    config: SiteConfig, meter_kw: Sequence[float], soc_pct: Mapping[str, Sequence[float]]
) -> int:
    rating = config.feeder.transformer_rating_kw
    count = episodes(np.abs(np.asarray(meter_kw)) > rating)
    for asset in config.assets:
        if isinstance(asset, BatteryAsset) and asset.id in soc_pct:
            soc = np.asarray(soc_pct[asset.id])
            count += episodes((soc < asset.soc_min_pct - 0.5) | (soc > asset.soc_max_pct + 0.5))
    return count


def compute(
    config: SiteConfig,
    *,
    start: datetime,
    step_s: float,
    meter_kw: Sequence[float],
    battery_kw: Mapping[str, Sequence[float]],
    soc_pct: Mapping[str, Sequence[float]],
    decisions: Mapping[datetime, Sequence[Decision]],
    dispatches: int,
    lost_commands: int,
) -> Kpis:
    flat = [d for ds in decisions.values() for d in ds]
    rejected = sum(1 for d in flat if d.outcome is Outcome.REJECTED)
    blocked = sum(1 for d in flat if d.outcome is Outcome.BLOCKED)
    field = field_violations(config, meter_kw, soc_pct)
    discharged = sum(float(np.clip(np.asarray(s), 0, None).sum()) for s in battery_kw.values())
    tariff = config.policy.tariff
    return Kpis(
        peak_kw=float(max(meter_kw)) if meter_kw else 0.0,
        energy_shifted_kwh=discharged * step_s / 3600.0,
        violations=rejected + blocked + field,
        gate_rejections=rejected,
        validation_blocks=blocked,
        field_violations=field,
        human_interventions=sum(1 for d in flat if d.outcome is Outcome.NEEDS_APPROVAL),
        cost=energy_cost(meter_kw, start, step_s, tariff, ZoneInfo(config.safety.timezone)),
        currency=tariff.currency,
        dispatches=dispatches,
        proposals=len(flat),
        lost_commands=lost_commands,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Difference:
    at: datetime
    production: tuple[tuple[object, ...], ...]
    candidate: tuple[tuple[object, ...], ...]
    production_tiers: tuple[str, ...] = ()  # the agent tier behind each proposal, in order
    candidate_tiers: tuple[str, ...] = ()


def differences(
    production: Mapping[datetime, Sequence[Decision]],
    candidate: Mapping[datetime, Sequence[Decision]],
) -> list[Difference]:
    """Decision instants where the proposals, verdicts or outcomes of the two sides differ."""
    out: list[Difference] = []
    for at in sorted(set(production) | set(candidate)):
        a = tuple(d.signature() for d in production.get(at, ()))
        b = tuple(d.signature() for d in candidate.get(at, ()))
        if a != b:
            out.append(
                Difference(
                    at=at,
                    production=a,
                    candidate=b,
                    production_tiers=tuple(d.tier for d in production.get(at, ())),
                    candidate_tiers=tuple(d.tier for d in candidate.get(at, ())),
                )
            )
    return out


def by_tier(decisions: Mapping[datetime, Sequence[Decision]]) -> dict[str, int]:
    """How many proposals each agent tier made (``peak_forecast``, ``peak_rule``, ...)."""
    out: dict[str, int] = {}
    for ds in decisions.values():
        for d in ds:
            out[d.tier] = out.get(d.tier, 0) + 1
    return dict(sorted(out.items()))


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)

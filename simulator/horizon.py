"""Turn a forecast and a plan into bus injections over a horizon, step by step.

Pure and deterministic: batteries integrate SoC (and stop at empty / full, as
the device would), PV is capped by its rating and inverter and curtailed by the
plan, demand-response loads drop by the curtailed share and later rebound. The
outcome is the (steps, buses) load matrices the power flow solves, plus each
DER's trajectory and the plan breaches that do not need a power flow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from safety import Command, CommandKind
from simulator.network import FloatArray, Network


class ForecastError(ValueError):
    """The forecast does not cover what the network needs; the message names it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GridForecast:
    """What the uncontrolled grid will do: kW per step for each named profile."""

    start: datetime
    step: timedelta
    steps: int
    profiles_kw: Mapping[str, Sequence[float]] = field(default_factory=dict)
    load_scale: Sequence[float] | None = None  # scales the constant bus loads; default 1
    noise_pct: float = 0.0  # forecast uncertainty, drawn from the seed

    def times(self) -> list[datetime]:
        return [self.start + i * self.step for i in range(self.steps)]


@dataclass(frozen=True, slots=True, kw_only=True)
class GridState:
    """The current state the twin starts from."""

    soc_pct: Mapping[str, float]
    battery_kw: Mapping[str, float] = field(default_factory=dict)  # held outside the plan
    out_of_service: tuple[str, ...] = ()  # branches known open or tripped


@dataclass(frozen=True, slots=True, kw_only=True)
class Breach:
    """A plan breach found without a power flow (SoC window, device limit)."""

    kind: str
    element: str
    step: int
    value: float
    limit: float
    unit: str


@dataclass(frozen=True, slots=True, eq=False)
class Horizon:
    p_mw: FloatArray  # (steps, buses) net load
    q_mvar: FloatArray
    battery_kw: dict[str, FloatArray]  # delivered, > 0 discharge
    soc_pct: dict[str, FloatArray]  # at the end of each step
    pv_curtailed_kw: FloatArray  # (steps,) total
    load_curtailed_kw: FloatArray  # (steps,) total
    breaches: list[Breach]


def build_horizon(
    net: Network,
    state: GridState,
    forecast: GridForecast,
    plan: Sequence[Command],
    *,
    seed: int,
) -> Horizon:
    n, t = net.n_bus, forecast.steps
    hours = forecast.step.total_seconds() / 3600.0
    times = forecast.times()
    rng = np.random.default_rng(seed)
    noise = forecast.noise_pct / 100.0

    def profile(name: str, needed_by: str) -> FloatArray:
        values = forecast.profiles_kw.get(name)
        if values is None:
            known = ", ".join(sorted(forecast.profiles_kw)) or "none"
            raise ForecastError(
                f"forecast has no profile {name!r} needed by {needed_by}; known: {known}"
            )
        arr = np.asarray(values, dtype=float)
        if arr.shape != (t,):
            raise ForecastError(f"forecast profile {name!r} has {arr.size} values, need {t}")
        if noise > 0:
            arr = arr * (1.0 + rng.normal(0.0, noise, t))
        clipped: FloatArray = np.maximum(arr, 0.0)
        return clipped

    scale = np.ones(t) if forecast.load_scale is None else np.asarray(forecast.load_scale, float)
    if scale.shape != (t,):
        raise ForecastError(f"forecast load_scale has {scale.size} values, need {t}")
    p = scale[:, None] * net.p_load_mw[None, :]
    q = scale[:, None] * net.q_load_mvar[None, :]
    if noise > 0:
        p = p * (1.0 + rng.normal(0.0, noise, (t, n)))
    breaches: list[Breach] = []
    for load in net.loads:
        kw = load.share * profile(load.profile, f"load {load.id}")
        i = net.bus_index(load.bus)
        p[:, i] += kw / 1000.0
        q[:, i] += kw / 1000.0 * _q_per_p(load.power_factor)

    pv_curtailed = np.zeros(t)
    for pv in net.pvs:
        available = np.minimum(profile(pv.profile or pv.id, f"PV {pv.id}"), pv.rated_kw)
        available = np.minimum(available, pv.inverter_kva)
        pct = _setpoints(plan, pv.id, CommandKind.CURTAIL_PCT, times, default=0.0)
        _limit(breaches, pv.id, pct, 0.0, 100.0, "%")
        out = available * (1.0 - np.clip(pct, 0.0, 100.0) / 100.0)
        pv_curtailed += available - out
        p[:, net.bus_index(pv.bus)] -= out / 1000.0

    load_curtailed = np.zeros(t)
    for flex in net.flex_loads:
        base = profile(flex.profile or flex.id, f"flexible load {flex.id}")
        pct = _setpoints(plan, flex.id, CommandKind.CURTAIL_PCT, times, default=0.0)
        _limit(breaches, flex.id, pct, 0.0, flex.max_curtail_pct, "%")
        cut = base * np.clip(pct, 0.0, flex.max_curtail_pct) / 100.0
        rebound = _rebound(cut, flex.rebound_pct / 100.0, flex.rebound_s / 3600.0, hours)
        kw = base - cut + rebound
        load_curtailed += cut
        i = net.bus_index(flex.bus)
        p[:, i] += kw / 1000.0
        q[:, i] += kw / 1000.0 * _q_per_p(flex.power_factor)

    battery_kw: dict[str, FloatArray] = {}
    soc_out: dict[str, FloatArray] = {}
    for bat in net.batteries:
        if bat.id not in state.soc_pct:
            raise ForecastError(f"state has no SoC for battery {bat.id}")
        held = state.battery_kw.get(bat.id, 0.0)
        wanted = _setpoints(plan, bat.id, CommandKind.ACTIVE_POWER_KW, times, default=held)
        _limit(breaches, bat.id, wanted, -bat.max_charge_kw, bat.max_discharge_kw, "kW")
        wanted = np.clip(wanted, -bat.max_charge_kw, bat.max_discharge_kw)
        delivered = np.zeros(t)
        soc = np.zeros(t)
        level = float(state.soc_pct[bat.id])
        for k in range(t):  # sequential by nature: each step starts from the last SoC
            p_kw = float(wanted[k])
            if p_kw >= 0:
                room_kwh = level / 100.0 * bat.capacity_kwh * bat.efficiency
                p_kw = min(p_kw, room_kwh / hours)
                level -= 100.0 * p_kw * hours / bat.efficiency / bat.capacity_kwh
            else:
                room_kwh = (100.0 - level) / 100.0 * bat.capacity_kwh / bat.efficiency
                p_kw = max(p_kw, -room_kwh / hours)
                level += 100.0 * -p_kw * hours * bat.efficiency / bat.capacity_kwh
            delivered[k] = p_kw
            soc[k] = level
            if level < bat.soc_min_pct - 1e-6:
                breaches.append(
                    Breach(
                        kind="soc_low",
                        element=bat.id,
                        step=k,
                        value=level,
                        limit=bat.soc_min_pct,
                        unit="%",
                    )
                )
            elif level > bat.soc_max_pct + 1e-6:
                breaches.append(
                    Breach(
                        kind="soc_high",
                        element=bat.id,
                        step=k,
                        value=level,
                        limit=bat.soc_max_pct,
                        unit="%",
                    )
                )
        battery_kw[bat.id] = delivered
        soc_out[bat.id] = soc
        p[:, net.bus_index(bat.bus)] -= delivered / 1000.0
    return Horizon(
        p_mw=p,
        q_mvar=q,
        battery_kw=battery_kw,
        soc_pct=soc_out,
        pv_curtailed_kw=pv_curtailed,
        load_curtailed_kw=load_curtailed,
        breaches=breaches,
    )


def _setpoints(
    plan: Sequence[Command],
    asset: str,
    kind: CommandKind,
    times: list[datetime],
    *,
    default: float,
) -> FloatArray:
    """The setpoint in force at each step; a later command overrides an earlier one."""
    out = np.full(len(times), default, dtype=float)
    if not times:
        return out
    start, step = times[0], (times[1] - times[0]) if len(times) > 1 else timedelta(seconds=1)
    for command in plan:
        if command.asset != asset or command.kind is not kind:
            continue
        first = max(0, _ceil_steps(command.start - start, step))
        last = min(len(times), _ceil_steps(command.end - start, step))
        out[first:last] = command.value
    return out


def _ceil_steps(delta: timedelta, step: timedelta) -> int:
    return -(-delta // step) if delta > timedelta(0) else int(delta // step)


def _limit(
    breaches: list[Breach], asset: str, values: FloatArray, low: float, high: float, unit: str
) -> None:
    for k in np.flatnonzero((values < low - 1e-9) | (values > high + 1e-9)):
        v = float(values[k])
        breaches.append(
            Breach(
                kind="limit",
                element=asset,
                step=int(k),
                value=v,
                limit=high if v > high else low,
                unit=unit,
            )
        )


def _rebound(cut_kw: FloatArray, share: float, duration_h: float, step_h: float) -> FloatArray:
    """After curtailment stops, ``share`` of the curtailed energy comes back, spread
    evenly over ``duration_h`` (cold rooms recool, water heaters reheat)."""
    out = np.zeros_like(cut_kw)
    if share <= 0:
        return out
    owed_kwh = 0.0
    rate_kw = 0.0
    for k, cut in enumerate(cut_kw):
        if cut > 0:
            owed_kwh += share * cut * step_h
            rate_kw = 0.0
            continue
        if owed_kwh > 1e-12:
            if rate_kw == 0.0:
                rate_kw = owed_kwh / duration_h
            kw = min(rate_kw, owed_kwh / step_h)
            out[k] = kw
            owed_kwh -= kw * step_h
    return out


def _q_per_p(power_factor: float) -> float:
    return float(np.tan(np.arccos(power_factor)))

"""Pre-dispatch validation on the network twin: state + forecast + plan -> report.

The plan and the no-action baseline are run over the horizon (e.g. 24 h at
5-min steps) and solved in one batched power flow. Voltage, thermal, SoC and
device-limit violations are grouped into episodes with time and place. A step
whose power flow did not converge is itself a violation: such a report is never
``ok``. Same network, state, forecast, plan and seed: the same report.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from safety import Command, CommandKind
from simulator.horizon import Breach, GridForecast, GridState, Horizon, build_horizon
from simulator.network import BoolArray, FloatArray, Network
from simulator.powerflow import BatchResult, prepare, solve_batch
from simulator.report import GridReport, GridViolation, Kpis, Series
from simulator.scenario import Scenario


def validate_dispatch(
    network: Network,
    state: GridState,
    forecast: GridForecast,
    plan: Sequence[Command],
    *,
    seed: int = 0,
) -> GridReport:
    net, dead = network, tuple[str, ...]()
    for branch in state.out_of_service:  # what a trip islands is dark, not an error
        net, more = net.with_branch_status_energized(branch, False)
        dead = (*dead, *more)
    with_plan = build_horizon(net, state, forecast, plan, seed=seed)
    without = build_horizon(net, state, forecast, (), seed=seed)
    t = forecast.steps
    both = solve_batch(
        prepare(net),
        np.vstack([with_plan.p_mw, without.p_mw]),
        np.vstack([with_plan.q_mvar, without.q_mvar]),
    )
    times = forecast.times()
    plan_pf, base_pf = _split(both, 0, t), _split(both, t, 2 * t)
    live = np.flatnonzero(net.in_service)
    return GridReport(
        network=net.name,
        start=forecast.start,
        step_s=forecast.step.total_seconds(),
        steps=t,
        seed=seed,
        plan_keys=tuple(c.key for c in plan),
        converged=bool(both.converged.all()),
        violations=tuple(
            sorted(
                _violations(net, plan_pf, with_plan, times, forecast.step, live)
                + _unreachable(network, net, plan, forecast),
                key=lambda v: (v.start, v.kind, v.element),
            )
        ),
        baseline_violations=_violations(net, base_pf, without, times, forecast.step, live),
        plan=_kpis(net, plan_pf, with_plan, times, forecast.step),
        baseline=_kpis(net, base_pf, without, times, forecast.step),
        plan_series=_series(net, plan_pf, with_plan, times),
        baseline_series=_series(net, base_pf, without, times),
        vmin_limit_pu=float(np.max(np.delete(net.vmin_pu, net.slack))),
        vmax_limit_pu=float(np.min(np.delete(net.vmax_pu, net.slack))),
        deenergized_buses=dead,
    )


def _unreachable(
    full: Network, live: Network, plan: Sequence[Command], forecast: GridForecast
) -> tuple[GridViolation, ...]:
    """Commands the twin cannot carry out are violations, never silently dropped."""
    kinds = {b.id: CommandKind.ACTIVE_POWER_KW for b in full.batteries}
    kinds.update({d.id: CommandKind.CURTAIL_PCT for d in full.pvs})
    kinds.update({d.id: CommandKind.CURTAIL_PCT for d in full.flex_loads})
    alive = {b.id for b in live.batteries} | {d.id for d in live.pvs}
    alive |= {d.id for d in live.flex_loads}
    end = forecast.start + forecast.steps * forecast.step
    out = []
    for c in plan:
        if c.asset not in kinds:
            kind, why = "unknown_asset", f"{c.asset} is not a device of network {full.name}"
        elif c.kind is not kinds[c.asset]:
            kind, why = "unsupported", f"{c.asset} does not take {c.kind.value} commands"
        elif c.asset not in alive:
            kind, why = "deenergized", f"{c.asset} sits on a de-energized bus"
        else:
            continue
        if c.end <= forecast.start or c.start >= end:
            continue  # outside the horizon: not this report's business
        at = max(c.start, forecast.start)
        out.append(
            GridViolation(
                kind=kind,
                element=c.asset,
                start=at,
                end=at,
                steps=1,
                worst=c.value,
                limit=0.0,
                unit="",
                message=f"command {c.key}: {why}",
            )
        )
    return tuple(out)


def _split(res: BatchResult, a: int, b: int) -> BatchResult:
    return BatchResult(
        net=res.net,
        method=res.method,
        newton=res.newton[a:b],
        converged=res.converged[a:b],
        iterations=res.iterations[a:b],
        mismatch_pu=res.mismatch_pu[a:b],
        worst_bus=res.worst_bus[a:b],
        v=res.v[a:b],
        s_from_mva=res.s_from_mva[a:b],
        s_to_mva=res.s_to_mva[a:b],
        s_slack_mva=res.s_slack_mva[a:b],
    )


def _violations(
    net: Network,
    pf: BatchResult,
    horizon: Horizon,
    times: list[datetime],
    step: timedelta,
    live: np.ndarray,
) -> tuple[GridViolation, ...]:
    out: list[GridViolation] = []
    ok = pf.converged
    for k in np.flatnonzero(~ok):
        out.append(
            GridViolation(
                kind="powerflow",
                element=net.bus_ids[int(pf.worst_bus[k])],
                start=times[k],
                end=times[k],
                steps=1,
                worst=float(pf.mismatch_pu[k]),
                limit=0.0,
                unit="pu mismatch",
                message=f"NOT SAFE at {times[k]:%H:%M}: {pf.failure(int(k))}",
            )
        )
    vm = pf.vm_pu
    buses = np.arange(net.n_bus) != net.slack
    low = (vm < net.vmin_pu[None, :] - 1e-9) & ok[:, None] & buses[None, :]
    high = (vm > net.vmax_pu[None, :] + 1e-9) & ok[:, None] & buses[None, :]
    for i in np.flatnonzero(low.any(axis=0)):
        out += _episodes(
            low[:, i],
            vm[:, i],
            net.vmin_pu[i],
            "voltage_low",
            net.bus_ids[i],
            "pu",
            times,
            step,
            lowest=True,
        )
    for i in np.flatnonzero(high.any(axis=0)):
        out += _episodes(
            high[:, i],
            vm[:, i],
            net.vmax_pu[i],
            "voltage_high",
            net.bus_ids[i],
            "pu",
            times,
            step,
            lowest=False,
        )
    loading = np.nan_to_num(pf.loading_pct, nan=0.0)
    over = (loading > 100.0 + 1e-9) & ok[:, None]
    for k in np.flatnonzero(over.any(axis=0)):
        if k in live:
            out += _episodes(
                over[:, k],
                loading[:, k],
                100.0,
                "thermal",
                net.branch_ids[k],
                "%",
                times,
                step,
                lowest=False,
            )
    out += _breach_episodes(horizon.breaches, times, step)
    return tuple(sorted(out, key=lambda v: (v.start, v.kind, v.element)))


def _episodes(
    mask: BoolArray,
    values: FloatArray,
    limit: float,
    kind: str,
    element: str,
    unit: str,
    times: list[datetime],
    step: timedelta,
    *,
    lowest: bool,
) -> list[GridViolation]:
    """Consecutive violating steps as one episode, with its worst value."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    out = []
    for a, b in zip(starts, ends, strict=True):
        chunk = values[a:b]
        worst = float(chunk.min() if lowest else chunk.max())
        out.append(
            GridViolation(
                kind=kind,
                element=element,
                start=times[a],
                end=times[b - 1],
                steps=int(b - a),
                worst=worst,
                limit=float(limit),
                unit=unit,
                message=_message(kind, element, worst, limit, unit, times[a], times[b - 1] + step),
            )
        )
    return out


def _breach_episodes(
    breaches: list[Breach], times: list[datetime], step: timedelta
) -> list[GridViolation]:
    grouped: dict[tuple[str, str], list[Breach]] = {}
    for b in breaches:
        grouped.setdefault((b.kind, b.element), []).append(b)
    out: list[GridViolation] = []
    for (kind, element), items in grouped.items():
        mask = np.zeros(len(times), dtype=bool)
        values = np.zeros(len(times))
        for b in items:
            mask[b.step] = True
            values[b.step] = b.value
        lowest = kind == "soc_low" or (kind == "limit" and items[0].value < items[0].limit)
        out += _episodes(
            mask, values, items[0].limit, kind, element, items[0].unit, times, step, lowest=lowest
        )
    return out


def _message(
    kind: str, element: str, worst: float, limit: float, unit: str, a: datetime, b: datetime
) -> str:
    what = {
        "voltage_low": f"voltage at bus {element} down to {worst:.4f} pu, below {limit:g} pu",
        "voltage_high": f"voltage at bus {element} up to {worst:.4f} pu, above {limit:g} pu",
        "thermal": f"branch {element} loaded to {worst:.1f} %, above its rating",
        "soc_low": f"{element} SoC down to {worst:.1f} %, below {limit:g} %",
        "soc_high": f"{element} SoC up to {worst:.1f} %, above {limit:g} %",
        "limit": f"{element} setpoint {worst:g} {unit} outside its limit {limit:g} {unit}",
    }.get(kind, f"{kind} at {element}: {worst:g} {unit} (limit {limit:g})")
    return f"{what} from {a:%H:%M} to {b:%H:%M}"


def _kpis(
    net: Network, pf: BatchResult, horizon: Horizon, times: list[datetime], step: timedelta
) -> Kpis:
    hours = step.total_seconds() / 3600.0
    imp = pf.s_slack_mva.real * 1000.0
    peak = int(np.argmax(imp))
    vm = np.where(np.arange(net.n_bus)[None, :] == net.slack, np.nan, pf.vm_pu)
    lo = np.unravel_index(int(np.nanargmin(vm)), vm.shape)
    hi = np.unravel_index(int(np.nanargmax(vm)), vm.shape)
    loading = pf.loading_pct
    rated = np.isfinite(loading)
    if rated.any():
        worst = np.unravel_index(int(np.nanargmax(np.where(rated, loading, -1.0))), loading.shape)
        max_loading: float | None = float(loading[worst])
        max_branch: str | None = net.branch_ids[int(worst[1])]
    else:
        max_loading, max_branch = None, None
    discharged = sum(float(np.clip(kw, 0, None).sum()) for kw in horizon.battery_kw.values())
    return Kpis(
        peak_import_kw=float(imp[peak]),
        peak_at=times[peak],
        energy_import_kwh=float(imp.sum() * hours),
        losses_kwh=float(pf.losses_kw.sum() * hours),
        vmin_pu=float(vm[lo]),
        vmin_bus=net.bus_ids[int(lo[1])],
        vmax_pu=float(vm[hi]),
        vmax_bus=net.bus_ids[int(hi[1])],
        max_loading_pct=max_loading,
        max_loading_branch=max_branch,
        energy_shifted_kwh=(discharged + float(horizon.load_curtailed_kw.sum())) * hours,
        pv_curtailed_kwh=float(horizon.pv_curtailed_kw.sum() * hours),
    )


def _series(net: Network, pf: BatchResult, horizon: Horizon, times: list[datetime]) -> Series:
    vm = np.delete(pf.vm_pu, net.slack, axis=1)
    loading = pf.loading_pct
    rated = np.isfinite(loading).any(axis=0)
    worst = loading[:, rated].max(axis=1) if rated.any() else np.full(len(times), np.nan)
    return Series(
        times=tuple(times),
        import_kw=tuple(float(x) for x in pf.s_slack_mva.real * 1000.0),
        vmin_pu=tuple(float(x) for x in vm.min(axis=1)),
        max_loading_pct=tuple(float(x) for x in worst),
        soc_pct={b: tuple(float(x) for x in s) for b, s in horizon.soc_pct.items()},
    )


def forecast_from_scenario(
    scenario: Scenario, start: datetime, horizon: timedelta, step: timedelta
) -> GridForecast:
    """Sample every profile of a scenario at ``step`` from ``start`` (noise-free: the
    scenario's own noise is the field's; the forecast's uncertainty has its own knob)."""
    steps = max(1, int(horizon // step))
    return GridForecast(
        start=start,
        step=step,
        steps=steps,
        profiles_kw={
            name: tuple(scenario.sample_kw(name, start, step, steps)) for name in scenario.profiles
        },
    )


def persistence_forecast(
    start: datetime, horizon: timedelta, step: timedelta, profiles_kw: dict[str, float]
) -> GridForecast:
    """Each profile held at its current measured value over the horizon: the
    fallback forecast when no model is available (e.g. from the runtime's latest
    state: base_load = meter + battery output + PV - flexible loads)."""
    steps = max(1, int(horizon // step))
    return GridForecast(
        start=start,
        step=step,
        steps=steps,
        profiles_kw={name: (float(kw),) * steps for name, kw in profiles_kw.items()},
    )

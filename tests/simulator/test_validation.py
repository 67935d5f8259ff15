from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from safety import Command, CommandKind, Origin
from simulator.examples import case33_day
from simulator.horizon import ForecastError, GridForecast, GridState
from simulator.network import Network
from simulator.netyaml import load_network_yaml
from simulator.report import plot_png
from simulator.scenario import load_scenario
from simulator.validation import forecast_from_scenario, validate_dispatch

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 7, 15, 15, 30, tzinfo=UTC)
STEP = timedelta(minutes=5)


@pytest.fixture(scope="module")
def feeder() -> Network:
    return load_network_yaml(REPO / "configs" / "networks" / "demo-feeder.yaml")


@pytest.fixture(scope="module")
def evening() -> GridForecast:
    scenario = load_scenario(str(REPO / "configs" / "scenarios" / "evening-peak.yaml"))
    return forecast_from_scenario(scenario, START, timedelta(hours=5), STEP)


def cmd(asset: str, value: float, start_h: float, end_h: float, kind: CommandKind) -> Command:
    return Command(
        key=f"{asset}-{start_h}",
        asset=asset,
        kind=kind,
        value=value,
        start=START + timedelta(hours=start_h),
        end=START + timedelta(hours=end_h),
        origin=Origin.AGENT,
    )


def discharge(value_kw: float, start_h: float, end_h: float) -> Command:
    return cmd("bat1", value_kw, start_h, end_h, CommandKind.ACTIVE_POWER_KW)


def scaled(forecast: GridForecast, factor: float) -> GridForecast:
    profiles = {k: tuple(np.asarray(v) * factor) for k, v in forecast.profiles_kw.items()}
    profiles["pv1"] = forecast.profiles_kw["pv1"]
    return GridForecast(
        start=forecast.start, step=forecast.step, steps=forecast.steps, profiles_kw=profiles
    )


def test_a_peak_shaving_plan_is_safe_and_lowers_the_peak(
    feeder: Network, evening: GridForecast
) -> None:
    report = validate_dispatch(
        feeder, GridState(soc_pct={"bat1": 85}), evening, [discharge(200, 2.5, 4.0)]
    )
    assert report.ok, report.summary()
    assert report.plan.peak_import_kw < report.baseline.peak_import_kw - 50
    assert report.plan.energy_shifted_kwh == pytest.approx(300.0)
    assert report.plan.losses_kwh < report.baseline.losses_kwh
    assert report.plan.vmin_pu > report.baseline.vmin_pu
    assert report.baseline.peak_at == START + timedelta(hours=3, minutes=15)  # 18:45


def test_draining_the_battery_is_a_soc_violation_with_time_and_place(
    feeder: Network, evening: GridForecast
) -> None:
    report = validate_dispatch(
        feeder, GridState(soc_pct={"bat1": 85}), evening, [discharge(250, 1.0, 5.0)]
    )
    assert not report.ok
    soc = [v for v in report.violations if v.kind == "soc_low"]
    assert len(soc) == 1
    assert soc[0].element == "bat1"
    assert soc[0].limit == 10
    # 85 % -> 10 % of 500 kWh at 250 kW / 0.92 efficiency: about 1.38 h after 16:30
    assert START + timedelta(hours=2, minutes=15) <= soc[0].start <= START + timedelta(hours=2.5)
    assert "bat1 SoC down to" in soc[0].message
    assert soc[0] in report.worsened()


def test_heat_wave_baseline_violates_and_the_report_names_bus_and_branch(
    feeder: Network, evening: GridForecast
) -> None:
    hot = scaled(evening, 1.45)
    report = validate_dispatch(feeder, GridState(soc_pct={"bat1": 85}), hot, [])
    kinds = {(v.kind, v.element) for v in report.baseline_violations}
    assert ("voltage_low", "n4") in kinds
    assert ("thermal", "T1") in kinds
    low = next(v for v in report.baseline_violations if v.kind == "voltage_low")
    assert low.worst < 0.95 and low.limit == 0.95 and low.steps >= 1
    assert report.violations == report.baseline_violations  # an empty plan changes nothing


def test_non_convergence_is_never_safe(feeder: Network, evening: GridForecast) -> None:
    report = validate_dispatch(
        feeder, GridState(soc_pct={"bat1": 85}), scaled(evening, 40.0), [discharge(10, 0, 1)]
    )
    assert not report.converged
    assert not report.ok
    assert report.summary().startswith("NOT SAFE")
    assert any(v.kind == "powerflow" for v in report.violations)


def test_same_plan_same_seed_same_report(feeder: Network, evening: GridForecast) -> None:
    noisy = GridForecast(
        start=evening.start,
        step=evening.step,
        steps=evening.steps,
        profiles_kw=evening.profiles_kw,
        noise_pct=3.0,
    )
    plan = [discharge(150, 2.0, 4.0)]
    state = GridState(soc_pct={"bat1": 70})
    a = validate_dispatch(feeder, state, noisy, plan, seed=11).as_json()
    b = validate_dispatch(feeder, state, noisy, plan, seed=11).as_json()
    c = validate_dispatch(feeder, state, noisy, plan, seed=12).as_json()
    assert a == b
    assert a["kpis"] != c["kpis"]


def test_curtailing_beyond_the_limit_is_flagged_and_rebound_follows(
    feeder: Network, evening: GridForecast
) -> None:
    state = GridState(soc_pct={"bat1": 85})
    over = validate_dispatch(
        feeder, state, evening, [cmd("load1", 60, 2.0, 3.0, CommandKind.CURTAIL_PCT)]
    )
    limit = [v for v in over.violations if v.kind == "limit"]
    assert limit and limit[0].element == "load1" and limit[0].worst == 60
    fine = validate_dispatch(
        feeder, state, evening, [cmd("load1", 40, 2.0, 3.0, CommandKind.CURTAIL_PCT)]
    )
    assert fine.ok
    during = slice(24, 36)  # 17:30 - 18:30
    after = slice(36, 48)  # the hour after: 20 % of the curtailed energy comes back
    p_plan = np.array(fine.plan_series.import_kw)
    p_base = np.array(fine.baseline_series.import_kw)
    assert (p_plan[during] < p_base[during]).all()
    assert (p_plan[after] > p_base[after]).all()
    curtailed_kwh = fine.plan.energy_shifted_kwh
    rebound_kwh = float((p_plan[after] - p_base[after]).sum()) * STEP.total_seconds() / 3600
    assert rebound_kwh == pytest.approx(0.2 * curtailed_kwh, rel=0.1)  # plus a little loss


def test_missing_profile_is_named(feeder: Network, evening: GridForecast) -> None:
    partial = GridForecast(
        start=START, step=STEP, steps=evening.steps, profiles_kw={"base_load": [1.0] * 60}
    )
    with pytest.raises(ForecastError, match="no profile 'pv1' needed by PV pv1"):
        validate_dispatch(feeder, GridState(soc_pct={"bat1": 50}), partial, [])


def test_a_tripped_line_darkens_the_lateral_and_commands_there_are_violations(
    feeder: Network, evening: GridForecast
) -> None:
    state = GridState(soc_pct={"bat1": 50}, out_of_service=("L5",))
    report = validate_dispatch(
        feeder, state, evening, [cmd("pv1", 50, 0.5, 1.0, CommandKind.CURTAIL_PCT)]
    )
    assert report.converged
    assert report.deenergized_buses == ("n5", "n6")
    assert "de-energized: n5, n6" in report.summary()
    (v,) = report.violations
    assert (v.kind, v.element) == ("deenergized", "pv1")
    intact = validate_dispatch(feeder, GridState(soc_pct={"bat1": 50}), evening, [])
    # the dark lateral's homes (30 % of base load) are not served, nor is its PV there
    assert report.baseline.peak_import_kw < intact.baseline.peak_import_kw - 200


@pytest.mark.parametrize(
    ("asset", "kind", "violation"),
    [
        ("bat9", CommandKind.ACTIVE_POWER_KW, "unknown_asset"),
        ("bat1", CommandKind.CURTAIL_PCT, "unsupported"),
        ("load1", CommandKind.ACTIVE_POWER_KW, "unsupported"),
    ],
)
def test_commands_the_twin_cannot_carry_out_are_never_silently_ok(
    feeder: Network, evening: GridForecast, asset: str, kind: CommandKind, violation: str
) -> None:
    report = validate_dispatch(
        feeder, GridState(soc_pct={"bat1": 50}), evening, [cmd(asset, 10, 1.0, 2.0, kind)]
    )
    assert not report.ok
    assert [(v.kind, v.element) for v in report.violations] == [(violation, asset)]


def test_case33_day_ahead_with_ten_ders_and_a_plot() -> None:
    net, forecast, state, plan = case33_day()
    report = validate_dispatch(net, state, forecast, plan)
    assert report.converged and report.steps == 288
    assert report.ok, report.summary()
    # the batteries lift the evening minimum voltage and shave the peak
    assert report.plan.vmin_pu > report.baseline.vmin_pu
    assert report.plan.peak_import_kw < report.baseline.peak_import_kw - 500
    assert report.plan.energy_shifted_kwh == pytest.approx(3 * 200 * 3)
    png = plot_png(report)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000

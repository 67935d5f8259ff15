"""KPI arithmetic: the time-of-use tariff, violation episodes, energy cost; faults in a run."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from runtime.config.model import SiteConfig, TariffConfig, TariffPeriodConfig
from runtime.decide.step import Outcome, resolve_policy
from runtime.demo.feeder import SCENARIO_DIR
from runtime.shadow import from_scenario, run_shadow
from runtime.shadow.kpis import energy_cost, episodes, price_per_kwh
from safety import Rejected
from simulator import load_scenario

UTC_ZONE = ZoneInfo("UTC")


@pytest.mark.parametrize(
    ("hhmm", "price"), [("03:00", 0.08), ("07:00", 0.15), ("18:30", 0.32), ("23:59", 0.15)]
)
def test_default_tou_tariff(hhmm: str, price: float) -> None:
    hour, minute = map(int, hhmm.split(":"))
    when = datetime(2026, 7, 15, hour, minute, tzinfo=UTC)
    assert price_per_kwh(TariffConfig(), when, UTC_ZONE) == price


def test_a_period_across_midnight_and_the_site_time_zone() -> None:
    tariff = TariffConfig(
        periods=[TariffPeriodConfig(start="22:00", end="06:00", price_per_kwh=0.05)],
        default_price_per_kwh=0.2,
    )
    assert price_per_kwh(tariff, datetime(2026, 1, 1, 23, 0, tzinfo=UTC), UTC_ZONE) == 0.05
    assert price_per_kwh(tariff, datetime(2026, 1, 1, 5, 59, tzinfo=UTC), UTC_ZONE) == 0.05
    assert price_per_kwh(tariff, datetime(2026, 1, 1, 12, 0, tzinfo=UTC), UTC_ZONE) == 0.2
    # 21:30 UTC is 22:30 in Berlin in winter: night price there
    berlin = ZoneInfo("Europe/Berlin")
    assert price_per_kwh(tariff, datetime(2026, 1, 1, 21, 30, tzinfo=UTC), berlin) == 0.05


def test_energy_cost_counts_import_only() -> None:
    tariff = TariffConfig(
        periods=[TariffPeriodConfig(start="00:00", end="24:00", price_per_kwh=0.1)]
    )
    start = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
    # one hour at 100 kW import, one hour exporting 50 kW (steps of 30 minutes)
    cost = energy_cost([100.0, 100.0, -50.0, -50.0], start, 1800.0, tariff, UTC_ZONE)
    assert cost == pytest.approx(10.0)


def test_episodes_count_runs_not_steps() -> None:
    assert episodes(np.array([False, True, True, False, True], dtype=bool)) == 2
    assert episodes(np.array([True, True], dtype=bool)) == 1
    assert episodes(np.array([], dtype=bool)) == 0


def test_scenario_faults_reach_the_gate(demo_config: SiteConfig) -> None:
    """comms-loss: the battery offline at 19:30 reports bad quality; the gate refuses."""
    inputs = from_scenario(demo_config, load_scenario("comms-loss", SCENARIO_DIR))
    production = resolve_policy(demo_config, "production")
    result = run_shadow(demo_config, inputs, production, production)
    rejected = [
        d
        for ds in result.production.decisions.values()
        for d in ds
        if d.outcome is Outcome.REJECTED
    ]
    assert rejected and result.production.kpis.gate_rejections == len(rejected)
    assert result.production.kpis.violations >= len(rejected)
    verdict = rejected[0].verdict
    assert isinstance(verdict, Rejected)
    assert any("quality" in hit.reason for hit in verdict.hits)
    assert result.decisions_differ == 0

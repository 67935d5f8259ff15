"""Power-flow validation of a plan on the feeder's network twin, when the site names one.

The shell adapter around ``simulator.validate_dispatch``: it turns the latest state
into a twin state and a persistence forecast, runs plan and no-action baseline
through the power flow, and, for an approval request, writes the plot the
operator reviews (auto-approved plans skip the rendering). A plan is blocked
when the power flow did not converge or when it makes any voltage, thermal or
SoC figure worse than doing nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runtime.config import site
from runtime.config.model import BatteryAsset, CurtailableLoadAsset, PvAsset, SiteConfig
from safety import Command, StateSnapshot
from simulator import (
    GridReport,
    GridState,
    load_network,
    persistence_forecast,
    plot_png,
    validate_dispatch,
)

log = logging.getLogger(__name__)

STEP = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class GridCheck:
    ok: bool
    summary: str
    report: dict[str, Any]
    grid_report: GridReport


class GridChecker:
    def __init__(self, config: SiteConfig, network_path: str, reports_dir: Path | None) -> None:
        self.config = config
        self.network = load_network(network_path)
        self.reports_dir = reports_dir

    def check(self, command: Command, snapshot: StateSnapshot, now: datetime) -> GridCheck:
        state, profiles = self._inputs(command, snapshot)
        horizon = max(command.end - command.start, STEP)
        forecast = persistence_forecast(now, horizon, STEP, profiles)
        report = validate_dispatch(self.network, state, forecast, [command])
        worse = report.worsened()
        ok = report.converged and not worse
        summary = report.summary()
        if report.converged and not report.ok and not worse:
            summary = f"no new violation (existing without the plan too): {summary}"
        return GridCheck(ok=ok, summary=summary, report=report.as_json(), grid_report=report)

    def _inputs(
        self, command: Command, snapshot: StateSnapshot
    ) -> tuple[GridState, dict[str, float]]:
        def kw(asset: str) -> float:
            reading = snapshot.get(site.point_id(asset, "p_kw"))
            return reading.value if reading is not None else 0.0

        soc: dict[str, float] = {}
        held: dict[str, float] = {}
        base_kw = kw(self.config.feeder.meter)
        profiles: dict[str, float] = {}
        for asset in self.config.assets:
            if isinstance(asset, BatteryAsset):
                reading = snapshot.get(site.point_id(asset.id, "soc_pct"))
                soc[asset.id] = reading.value if reading is not None else 0.0
                base_kw += kw(asset.id)
                if asset.id != command.asset:
                    held[asset.id] = kw(asset.id)
            elif isinstance(asset, PvAsset):
                profiles[asset.id] = kw(asset.id)
                base_kw += kw(asset.id)
            elif isinstance(asset, CurtailableLoadAsset):
                profiles[asset.id] = kw(asset.id)
                base_kw -= kw(asset.id)
        profiles["base_load"] = max(base_kw, 0.0)
        return GridState(soc_pct=soc, battery_kw=held), profiles

    def plot(self, check: GridCheck, key: str) -> str | None:
        """Render the PNG an operator reviews (only approval requests need one)."""
        if self.reports_dir is None:
            return None
        try:
            png = plot_png(check.grid_report)
        except RuntimeError as err:  # matplotlib not installed: the report stands without it
            log.info("no plot for %s: %s", key, err)
            return None
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        path = self.reports_dir / f"{key}.png"
        path.write_bytes(png)
        return str(path)

"""Example workloads on the shipped networks, shared by tests, benchmarks and docs.

``case33_day``: the Baran & Wu feeder with 7 PV plants and 3 batteries (10 DERs),
a 24 h / 5-min forecast (an evening-peaking load shape, a clear-sky PV curve) and
a plan that charges the batteries at midday and discharges them at the peak.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

import gridaios_data
from safety import Command, CommandKind, Origin
from simulator.horizon import GridForecast, GridState
from simulator.matpower import load_matpower
from simulator.network import BatterySpecNet, Network, PvSpec

NETWORKS = gridaios_data.NETWORKS
PV_BUSES = ("6", "12", "18", "22", "25", "30", "33")
BATTERY_BUSES = ("14", "24", "31")


def case33_day(
    *, start: datetime | None = None, step: timedelta = timedelta(minutes=5)
) -> tuple[Network, GridForecast, GridState, list[Command]]:
    start = start or datetime(2026, 7, 15, tzinfo=UTC)
    net = load_matpower(NETWORKS / "case33bw.m").with_ders(
        pvs=tuple(
            PvSpec(id=f"pv{b}", bus=b, rated_kw=300, inverter_kva=320, profile="solar")
            for b in PV_BUSES
        ),
        batteries=tuple(
            BatterySpecNet(
                id=f"bat{b}",
                bus=b,
                capacity_kwh=1000,
                max_charge_kw=250,
                max_discharge_kw=250,
                efficiency=0.93,
                soc_min_pct=10,
                soc_max_pct=95,
            )
            for b in BATTERY_BUSES
        ),
    )
    steps = int(timedelta(hours=24) // step)
    hours = np.arange(steps) * step.total_seconds() / 3600
    daily = 0.55 + 0.35 * np.exp(-(((hours - 19) / 2.5) ** 2)) + 0.1 * np.sin(hours / 24 * np.pi)
    solar = 300 * np.clip(np.sin((hours - 6) / 13 * np.pi), 0, None)
    forecast = GridForecast(
        start=start,
        step=step,
        steps=steps,
        profiles_kw={"solar": tuple(solar)},
        load_scale=tuple(daily),
    )
    plan = [
        Command(
            key=f"{b.id}-{k}",
            asset=b.id,
            kind=CommandKind.ACTIVE_POWER_KW,
            value=value,
            start=start + timedelta(hours=h0),
            end=start + timedelta(hours=h1),
            origin=Origin.AGENT,
        )
        for b in net.batteries
        for k, (value, h0, h1) in enumerate([(-120.0, 10, 14), (200.0, 18, 21)])
    ]
    return net, forecast, GridState(soc_pct={b.id: 40.0 for b in net.batteries}), plan

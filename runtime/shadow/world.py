"""One side's simulated feeder on its own SimPy clock: the demo field's device models,
driven directly (no OPC UA), with the side's own batteries on the shared exogenous load.

The batteries are ``simulator.devices.Battery`` (ramp, efficiency, SoC, one
apply per key), the meter is load minus PV minus battery output, and a scenario's
scripted faults act as in the virtual field: during ``comms_loss`` telemetry stops
(the snapshot goes stale) and commands are lost; an offline device reports bad
quality and ignores commands; frozen telemetry keeps its value with fresh stamps.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import simpy

from runtime.config import site
from runtime.config.model import SiteConfig
from runtime.shadow.inputs import ShadowInputs
from safety import Quality, Reading, StateSnapshot
from simulator import EventKind
from simulator.devices import Battery, BatterySpec
from simulator.dynamics import FaultSchedule


@dataclass(slots=True)
class Series:
    """What the side's field did at every step (device truth, for KPIs and plots)."""

    meter_kw: list[float] = field(default_factory=list)
    battery_kw: dict[str, list[float]] = field(default_factory=dict)
    soc_pct: dict[str, list[float]] = field(default_factory=dict)
    setpoint_kw: dict[str, list[float]] = field(default_factory=dict)


class SideWorld:
    def __init__(self, config: SiteConfig, inputs: ShadowInputs) -> None:
        self.config = config
        self.inputs = inputs
        self.env = simpy.Environment()
        specs = site.field_spec(config).batteries
        self.batteries: dict[str, Battery] = {}
        for spec in specs:
            spec = BatterySpec(
                id=spec.id,
                capacity_kwh=spec.capacity_kwh,
                max_charge_kw=spec.max_charge_kw,
                max_discharge_kw=spec.max_discharge_kw,
                efficiency=spec.efficiency,
                initial_soc_pct=inputs.initial_soc_pct.get(spec.id, spec.initial_soc_pct),
            )
            delay = inputs.scenario.response_delay_s if inputs.scenario is not None else 0.0
            self.batteries[spec.id] = Battery(self.env, spec, inputs.step_s, response_delay_s=delay)
        self.faults = FaultSchedule(self.env, inputs.scenario) if inputs.scenario else None
        if self.faults is not None:
            self.faults.on_change(self._on_fault)
        self.uncontrolled_kw = inputs.uncontrolled_kw()
        self.series = Series(
            battery_kw={b: [] for b in self.batteries},
            soc_pct={b: [] for b in self.batteries},
            setpoint_kw={b: [] for b in self.batteries},
        )
        self.lost_commands = 0
        self.telemetry: dict[str, list[float]] = {point: [] for point in self._points()}
        self._delivered: dict[str, Reading] = {}
        self._frozen: dict[str, float] = {}
        self._record_now()  # t = 0, before any step
        self.env.process(self._record())

    def _points(self) -> list[str]:
        """Every point this field reports (the snapshot's keys)."""
        points = [site.point_id(self.config.feeder.meter, "p_kw")]
        for asset_id in self.batteries:
            points += [site.point_id(asset_id, "p_kw"), site.point_id(asset_id, "soc_pct")]
        points += [site.point_id(a, "p_kw") for a in (*self.inputs.pv_kw, *self.inputs.load_kw)]
        return points

    # --- time ---------------------------------------------------------------

    def now(self) -> datetime:
        return self.inputs.start + timedelta(seconds=float(self.env.now))

    def advance(self, until: datetime) -> None:
        """Run the devices up to (not including) ``until``."""
        offset = (until - self.inputs.start).total_seconds()
        if offset > self.env.now:
            self.env.run(until=offset)

    # --- the field as the runtime sees it -----------------------------------

    def meter_kw(self) -> float:
        i = self._index()
        return float(self.uncontrolled_kw[i]) - sum(b.p_kw for b in self.batteries.values())

    def snapshot(self) -> StateSnapshot:
        """Telemetry as delivered: stale during a comms loss, bad from an offline device."""
        if self._active(EventKind.COMMS_LOSS):
            return StateSnapshot(readings=dict(self._delivered))
        now = self.now()
        readings = {
            point: Reading(
                point=point, value=value, ts=now, quality=Quality.BAD if bad else Quality.GOOD
            )
            for point, (value, bad) in self._telemetry().items()
        }
        self._delivered = readings
        return StateSnapshot(readings=readings)

    def _telemetry(self) -> dict[str, tuple[float, bool]]:
        """Each point's value as the field reports it now, and whether its quality is bad."""
        i = self._index()
        out: dict[str, tuple[float, bool]] = {}

        def put(asset: str, role: str, value: float, bad: bool = False) -> None:
            point = site.point_id(asset, role)
            if self._active(EventKind.FROZEN_TELEMETRY, asset):
                value = self._frozen.setdefault(point, value)
            out[point] = (value, bad)

        put(self.config.feeder.meter, "p_kw", self.meter_kw())
        for asset_id, battery in self.batteries.items():
            offline = self._active(EventKind.DEVICE_OFFLINE, asset_id)
            put(asset_id, "p_kw", battery.p_kw, offline)
            put(asset_id, "soc_pct", battery.soc_pct, offline)
        for asset_id, series in self.inputs.pv_kw.items():
            put(
                asset_id, "p_kw", float(series[i]), self._active(EventKind.DEVICE_OFFLINE, asset_id)
            )
        for asset_id, series in self.inputs.load_kw.items():
            put(
                asset_id, "p_kw", float(series[i]), self._active(EventKind.DEVICE_OFFLINE, asset_id)
            )
        return out

    def apply(self, asset: str, key: str, value_kw: float) -> bool:
        """Send a setpoint: False when the link is down or the device did not take it."""
        battery = self.batteries.get(asset)
        if battery is None or self._active(EventKind.COMMS_LOSS):
            self.lost_commands += 1
            return False
        applied = battery.offer_command(key, value_kw, self.now())
        if not applied:
            self.lost_commands += 1
        return applied

    # --- internals ----------------------------------------------------------

    def _index(self) -> int:
        return min(round(float(self.env.now) / self.inputs.step_s), self.inputs.n - 1)

    def _active(self, kind: EventKind, element: str = "") -> bool:
        return self.faults is not None and self.faults.active(kind, element)

    def _on_fault(self, event: Any, on: bool) -> None:
        if event.kind is EventKind.DEVICE_OFFLINE and event.element in self.batteries:
            self.batteries[event.element].online = not on
        if event.kind is EventKind.FROZEN_TELEMETRY and not on:
            prefix = f"{event.element}."
            self._frozen = {p: v for p, v in self._frozen.items() if not p.startswith(prefix)}

    def _record_now(self) -> None:
        s = self.series
        s.meter_kw.append(self.meter_kw())
        for asset_id, battery in self.batteries.items():
            s.battery_kw[asset_id].append(battery.p_kw)
            s.soc_pct[asset_id].append(battery.soc_pct)
            s.setpoint_kw[asset_id].append(battery.setpoint_kw)
        # What a historian would have stored at this step: good samples only (NaN: none).
        delivered = {} if self._active(EventKind.COMMS_LOSS) else self._telemetry()
        for point, values in self.telemetry.items():
            value, bad = delivered.get(point, (math.nan, True))
            values.append(math.nan if bad else value)

    def _record(self) -> Generator[Any, Any, None]:
        # Created after the batteries: at each step it runs after they moved.
        while len(self.series.meter_kw) < self.inputs.n:
            yield self.env.timeout(self.inputs.step_s)
            self._record_now()

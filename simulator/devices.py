"""Device models driven by SimPy: battery, PV, loads, and the substation meter."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import simpy


@dataclass(slots=True, kw_only=True)
class BatterySpec:
    id: str
    capacity_kwh: float
    max_charge_kw: float
    max_discharge_kw: float
    efficiency: float
    initial_soc_pct: float
    ramp_kw_per_s: float = 25.0
    nodes: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class ProfileSpec:
    """A PV plant or a load that follows a scenario profile."""

    id: str
    kind: str  # "pv" | "load"
    curtailable: bool = False
    nodes: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class MeterSpec:
    id: str
    nodes: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class BusVoltageSpec:
    """A site point that measures a network bus's voltage (pu): a meter's or an inverter's
    ``v_pu``, say. Served from the field's power flow (so only with a network)."""

    owner: str  # the asset whose point it is (its quality follows that device)
    role: str
    node: str
    bus: str  # the network bus id


@dataclass(slots=True, kw_only=True)
class FieldSpec:
    meter: MeterSpec
    batteries: list[BatterySpec]
    profiles: list[ProfileSpec]
    bus_voltages: list[BusVoltageSpec] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AppliedCommand:
    key: str
    value: float
    applied_at: datetime


class Battery:
    """Ramps toward its setpoint and integrates SoC; applies a command once per key.

    The inverter acknowledges a command on receipt (``applied_key``) and starts
    moving toward it ``response_delay_s`` later. Offline, it trips to 0 kW and
    ignores commands (they are lost, not queued).
    """

    def __init__(
        self,
        env: simpy.Environment,
        spec: BatterySpec,
        step_s: float,
        *,
        response_delay_s: float = 0.0,
    ) -> None:
        self.spec = spec
        self.soc_pct = spec.initial_soc_pct
        self.p_kw = 0.0
        self.setpoint_kw = 0.0
        self.applied_key = ""
        self.online = True
        self.ledger: list[AppliedCommand] = []
        self._applied_keys: set[str] = set()
        self._step_s = step_s
        self._env = env
        self._response_delay_s = response_delay_s
        env.process(self._run(env))

    def offer_command(self, key: str, value_kw: float, when: datetime) -> bool:
        """A write arrived: apply it only if this key was never applied before."""
        if not key or key in self._applied_keys or not self.online:
            return False
        self._applied_keys.add(key)
        self.applied_key = key
        self.ledger.append(AppliedCommand(key=key, value=value_kw, applied_at=when))
        if self._response_delay_s > 0:
            self._env.process(self._respond_later(value_kw))
        else:
            self.setpoint_kw = value_kw
        return True

    def has_seen(self, key: str) -> bool:
        return key in self._applied_keys

    def _respond_later(self, value_kw: float) -> Generator[Any, Any, None]:
        yield self._env.timeout(self._response_delay_s)
        self.setpoint_kw = value_kw

    def _run(self, env: simpy.Environment) -> Generator[Any, Any, None]:
        spec = self.spec
        while True:
            yield env.timeout(self._step_s)
            if not self.online:
                self.p_kw = 0.0
                continue
            target = min(max(self.setpoint_kw, -spec.max_charge_kw), spec.max_discharge_kw)
            if (self.soc_pct <= 0.0 and target > 0) or (self.soc_pct >= 100.0 and target < 0):
                target = 0.0
            max_delta = spec.ramp_kw_per_s * self._step_s
            self.p_kw += float(np.clip(target - self.p_kw, -max_delta, max_delta))
            hours = self._step_s / 3600.0
            if self.p_kw >= 0:
                energy_kwh = self.p_kw * hours / spec.efficiency
                self.soc_pct -= 100.0 * energy_kwh / spec.capacity_kwh
            else:
                energy_kwh = -self.p_kw * hours * spec.efficiency
                self.soc_pct += 100.0 * energy_kwh / spec.capacity_kwh
            self.soc_pct = min(max(self.soc_pct, 0.0), 100.0)

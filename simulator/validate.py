"""Pre-dispatch validation: run a plan on a twin of the feeder and report violations.

A first, simple twin: the uncontrolled net load follows a forecast, batteries
integrate SoC over the plan, and the transformer rating and SoC window are
checked at every step, with the no-action baseline alongside.

``simulator.validation.validate_dispatch`` is the network twin (a power flow per
step: voltages, branch loading, losses, DR rebound); this one remains for sites
without a network model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from safety import Command, CommandKind


@dataclass(frozen=True, slots=True, kw_only=True)
class TwinBattery:
    id: str
    capacity_kwh: float
    soc_min_pct: float
    soc_max_pct: float
    efficiency: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TwinFeeder:
    transformer_rating_kw: float
    batteries: Mapping[str, TwinBattery]


@dataclass(frozen=True, slots=True, kw_only=True)
class TwinState:
    soc_pct: Mapping[str, float]
    p_kw: Mapping[str, float]
    uncontrolled_net_kw: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    kind: str
    element: str
    at: datetime
    value: float
    limit: float
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationReport:
    violations: tuple[Violation, ...]
    steps: int
    step_s: float
    peak_kw_plan: float
    peak_kw_baseline: float
    energy_shifted_kwh: float
    net_kw_plan: tuple[float, ...] = field(default=())
    net_kw_baseline: tuple[float, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        if self.ok:
            return (
                f"no violations over {self.steps} steps; peak {self.peak_kw_plan:.0f} kW "
                f"(baseline {self.peak_kw_baseline:.0f} kW)"
            )
        return "; ".join(v.message for v in self.violations[:3])


def validate_plan(
    commands: Sequence[Command],
    state: TwinState,
    feeder: TwinFeeder,
    start: datetime,
    horizon: timedelta,
    *,
    forecast_net_kw: Sequence[float] | None = None,
    step: timedelta = timedelta(minutes=5),
) -> ValidationReport:
    """Simulate ``commands`` from ``start`` over ``horizon``; pure and deterministic."""
    step_s = step.total_seconds()
    n = max(1, int(horizon.total_seconds() // step_s))
    forecast = list(forecast_net_kw) if forecast_net_kw is not None else []
    soc = dict(state.soc_pct)
    violations: list[Violation] = []
    net_plan: list[float] = []
    net_base: list[float] = []
    shifted_kwh = 0.0
    for i in range(n):
        t = start + i * step
        uncontrolled = forecast[i] if i < len(forecast) else state.uncontrolled_net_kw
        dispatch_kw = 0.0
        for battery_id, battery in feeder.batteries.items():
            p_kw = _setpoint_at(commands, battery_id, t, default=state.p_kw.get(battery_id, 0.0))
            dispatch_kw += p_kw
            hours = step_s / 3600.0
            if p_kw >= 0:
                soc[battery_id] -= 100.0 * p_kw * hours / battery.efficiency / battery.capacity_kwh
            else:
                soc[battery_id] += 100.0 * -p_kw * hours * battery.efficiency / battery.capacity_kwh
            if soc[battery_id] < battery.soc_min_pct - 1e-6:
                violations.append(
                    Violation(
                        kind="soc",
                        element=battery_id,
                        at=t + step,
                        value=soc[battery_id],
                        limit=battery.soc_min_pct,
                        message=(
                            f"{battery_id} SoC {soc[battery_id]:.1f}% below "
                            f"{battery.soc_min_pct:g}% at {(t + step):%H:%M}"
                        ),
                    )
                )
            elif soc[battery_id] > battery.soc_max_pct + 1e-6:
                violations.append(
                    Violation(
                        kind="soc",
                        element=battery_id,
                        at=t + step,
                        value=soc[battery_id],
                        limit=battery.soc_max_pct,
                        message=(
                            f"{battery_id} SoC {soc[battery_id]:.1f}% above "
                            f"{battery.soc_max_pct:g}% at {(t + step):%H:%M}"
                        ),
                    )
                )
            shifted_kwh += abs(p_kw) * hours
        net = uncontrolled - dispatch_kw
        net_plan.append(net)
        net_base.append(uncontrolled)
        if abs(net) > feeder.transformer_rating_kw:
            violations.append(
                Violation(
                    kind="thermal",
                    element="transformer",
                    at=t,
                    value=net,
                    limit=feeder.transformer_rating_kw,
                    message=(
                        f"transformer loading {abs(net):.0f} kW above rating "
                        f"{feeder.transformer_rating_kw:.0f} kW at {t:%H:%M}"
                    ),
                )
            )
    return ValidationReport(
        violations=tuple(violations),
        steps=n,
        step_s=step_s,
        peak_kw_plan=max(net_plan),
        peak_kw_baseline=max(net_base),
        energy_shifted_kwh=shifted_kwh,
        net_kw_plan=tuple(net_plan),
        net_kw_baseline=tuple(net_base),
    )


def _setpoint_at(commands: Sequence[Command], asset: str, t: datetime, *, default: float) -> float:
    value = default
    for command in commands:
        if (
            command.asset == asset
            and command.kind is CommandKind.ACTIVE_POWER_KW
            and command.start <= t < command.end
        ):
            value = command.value
    return value

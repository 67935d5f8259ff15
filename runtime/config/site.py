"""Translate one validated site config into what each package needs.

The config is the single source; safety, the simulator and the connectors
each get their own small view of it, so none of them imports runtime.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from connectors.opcua import PointBinding, WriteTarget
from runtime.config.model import BatteryAsset, CurtailableLoadAsset, MeterAsset, PvAsset, SiteConfig
from runtime.config.safety_config import SETPOINT_ROLES, TimeWindowConfig, weekday_numbers
from runtime.core.errors import ConfigError, ConfigIssue
from safety import (
    AssetLimits,
    AssetRole,
    BatteryEnergy,
    Bus,
    CommandKind,
    Envelope,
    FeederLimit,
    Interlock,
    Policy,
    Ramp,
    Range,
    RateLimit,
    StateSnapshot,
    SwitchTiming,
    TimeWindow,
)
from simulator import (
    BatterySpec,
    BusVoltageSpec,
    FieldSpec,
    MeterSpec,
    ProfileSpec,
    TwinBattery,
    TwinFeeder,
)

AnyAsset = MeterAsset | BatteryAsset | PvAsset | CurtailableLoadAsset


def point_id(asset: str, role: str) -> str:
    return f"{asset}.{role}"


FEEDER_ID = "feeder"


def envelope(config: SiteConfig) -> Envelope:
    """The safety envelope declared by the site config (limits, points, policies)."""
    safety = config.safety
    assets = {a.id: _asset_limits(a) for a in config.assets}
    max_ages = {
        point_id(a.id, role): timedelta(seconds=p.max_age_s)
        for a in config.assets
        for role, p in a.points.items()
        if p.max_age_s is not None
    }
    units = {
        point_id(a.id, role): p.unit
        for a in config.assets
        for role, p in a.points.items()
        if p.unit
    }
    return Envelope(
        assets=assets,
        feeders={
            FEEDER_ID: FeederLimit(
                id=FEEDER_ID,
                rating_kw=config.feeder.transformer_rating_kw,
                meter_point=point_id(config.feeder.meter, "p_kw"),
            )
        },
        buses={
            b.id: Bus(
                id=b.id, point=b.point, assumed_pu=b.assumed_pu, min_pu=b.min_pu, max_pu=b.max_pu
            )
            for b in safety.buses
        },
        max_age=timedelta(seconds=safety.max_age_s),
        point_max_age=max_ages,
        point_units=units,
        max_duration=timedelta(seconds=safety.max_command_duration_s),
        timezone=ZoneInfo(safety.timezone),
        policies={k: Policy(v) for k, v in safety.policies.items()},
    )


def _asset_limits(asset: AnyAsset) -> AssetLimits:
    limits = asset.limits
    ranges: dict[CommandKind, Range] = {}
    role = AssetRole.LOAD
    battery: BatteryEnergy | None = None
    required = ["p_kw"]
    windows = [_window(w) for w in limits.time_windows]
    if isinstance(asset, BatteryAsset):
        role = AssetRole.STORAGE
        ranges[CommandKind.ACTIVE_POWER_KW] = Range(
            min_value=-asset.max_charge_kw, max_value=asset.max_discharge_kw
        )
        battery = BatteryEnergy(
            capacity_kwh=asset.capacity_kwh,
            soc_min_pct=asset.soc_min_pct,
            soc_max_pct=asset.soc_max_pct,
            efficiency=asset.efficiency,
            soc_point=point_id(asset.id, "soc_pct"),
        )
        required.append("soc_pct")
    elif isinstance(asset, PvAsset):
        role = AssetRole.GENERATION
        ranges[CommandKind.CURTAIL_PCT] = Range(min_value=0.0, max_value=100.0)
    elif isinstance(asset, CurtailableLoadAsset):
        ranges[CommandKind.CURTAIL_PCT] = Range(min_value=0.0, max_value=asset.max_curtail_pct)
        ranges[CommandKind.SWITCH] = Range(min_value=0.0, max_value=1.0)
        if asset.critical:  # never curtail or switch a critical load: refused with a reason
            windows.append(
                TimeWindow(
                    id="critical_load",
                    kinds=frozenset({CommandKind.CURTAIL_PCT, CommandKind.SWITCH}),
                    start=time(0, 0),
                    end=time(0, 0),
                    reason=f"{asset.id} is a critical load",
                )
            )
    if limits.max_reactive_kvar is not None:
        ranges[CommandKind.REACTIVE_POWER_KVAR] = Range(
            min_value=-limits.max_reactive_kvar, max_value=limits.max_reactive_kvar
        )
    # The allowlist: a kind is writable only through its setpoint point marked writable.
    ranges = {
        kind: rng
        for kind, rng in ranges.items()
        if (p := asset.points.get(SETPOINT_ROLES[kind.value])) is not None and p.writable
    }
    if isinstance(asset, MeterAsset):
        required = []
    current: dict[CommandKind, str] = {}
    if "q_kvar" in asset.points:
        current[CommandKind.REACTIVE_POWER_KVAR] = point_id(asset.id, "q_kvar")
    if "curtail_pct" in asset.points:
        current[CommandKind.CURTAIL_PCT] = point_id(asset.id, "curtail_pct")
    switch: SwitchTiming | None = None
    if CommandKind.SWITCH in ranges:
        state = "switch_state" if "switch_state" in asset.points else None
        switch = SwitchTiming(
            min_on=timedelta(seconds=limits.min_on_s),
            min_off=timedelta(seconds=limits.min_off_s),
            state_point=point_id(asset.id, state) if state else None,
        )
        if state:
            required.append(state)
    return AssetLimits(
        asset=asset.id,
        ranges=ranges,
        role=role,
        required_points=tuple(point_id(asset.id, r) for r in required),
        power_point=None if isinstance(asset, MeterAsset) else point_id(asset.id, "p_kw"),
        current_points=current,
        battery=battery,
        ramps=_ramps(asset),
        rate_limit=(
            RateLimit(
                max_commands=limits.rate_limit.max_commands,
                window=timedelta(seconds=limits.rate_limit.window_s),
            )
            if limits.rate_limit
            else None
        ),
        time_windows=tuple(windows),
        interlocks=tuple(
            Interlock(
                id=lock.id,
                point=point_id(asset.id, lock.point),
                active_when=lock.active_when,
                reason=lock.reason,
            )
            for lock in limits.interlocks
        ),
        switch=switch,
        feeder=None if isinstance(asset, MeterAsset) else FEEDER_ID,
        voltage_pu_per_kw=_sensitivities(asset.id, "voltage_pu_per_kw", limits.voltage_pu_per_kw),
        voltage_pu_per_kvar=_sensitivities(
            asset.id, "voltage_pu_per_kvar", limits.voltage_pu_per_kvar
        ),
    )


def _sensitivities(
    asset_id: str, field: str, table: dict[str, float] | Literal["computed"]
) -> dict[str, float]:
    if table == "computed":  # only load_config reads the network they are computed from
        raise ConfigError(
            "(config)",
            [
                ConfigIssue(
                    f"assets.{asset_id}.limits.{field}",
                    table,
                    "computed from feeder.network when the config is loaded from its file "
                    "(runtime.config.model.load_config); parsed text has no network to compute "
                    "from",
                )
            ],
        )
    return dict(table)


def _ramps(asset: AnyAsset) -> dict[CommandKind, Ramp]:
    limits = asset.limits
    interval = timedelta(seconds=limits.ramp_interval_s)
    ramps: dict[CommandKind, Ramp] = {}
    if limits.ramp_kw_per_min is not None:
        ramps[CommandKind.ACTIVE_POWER_KW] = Ramp(per_min=limits.ramp_kw_per_min, interval=interval)
    if limits.ramp_kvar_per_min is not None:
        ramps[CommandKind.REACTIVE_POWER_KVAR] = Ramp(
            per_min=limits.ramp_kvar_per_min, interval=interval
        )
    if limits.ramp_pct_per_min is not None:
        ramps[CommandKind.CURTAIL_PCT] = Ramp(per_min=limits.ramp_pct_per_min, interval=interval)
    return ramps


def _window(w: TimeWindowConfig) -> TimeWindow:
    return TimeWindow(
        id=w.id,
        kinds=frozenset(CommandKind(k) for k in w.kinds),
        start=time.fromisoformat(w.start),
        end=time.fromisoformat(w.end),
        forbid=w.rule == "forbid",
        days=weekday_numbers(w.days),
        reason=w.reason,
    )


def bindings(config: SiteConfig, source_id: str) -> list[PointBinding]:
    return [
        PointBinding(
            point=point_id(asset.id, role),
            node_id=point.node,
            unit=point.unit,
            scale=point.scale,
            offset=point.offset,
            data_type=point.data_type,
        )
        for asset in config.assets
        for role, point in asset.points.items()
        if point.source == source_id and not role.startswith("cmd_key") and role != "p_setpoint_kw"
    ]


def write_target(battery: BatteryAsset) -> WriteTarget:
    """The setpoint, typed and scaled as configured; the key nodes only where the device
    has them (the key protocol is an option: a standard device is confirmed by read-back)."""
    setpoint = battery.points["p_setpoint_kw"]
    key = battery.points.get("cmd_key")
    applied = battery.points.get("cmd_key_applied")
    return WriteTarget(
        value_node=setpoint.node,
        key_node=key.node if key is not None else None,
        applied_key_node=applied.node if applied is not None else None,
        data_type=setpoint.data_type,
        scale=setpoint.scale,
        offset=setpoint.offset,
        unit=setpoint.unit,
    )


def setpoint_source(config: SiteConfig, asset_id: str, kind: CommandKind) -> str:
    """The source whose setpoint point a command of ``kind`` on ``asset_id`` is written to."""
    return config.asset(asset_id).points[SETPOINT_ROLES[kind.value]].source


def curtail_target(config: SiteConfig, asset_id: str) -> WriteTarget:
    """A keyless target: ``curtail_pct`` is an absolute setpoint, its read-back confirms it."""
    point = config.asset(asset_id).points["curtail_pct"]
    return WriteTarget(
        value_node=point.node,
        data_type=point.data_type,
        scale=point.scale,
        offset=point.offset,
        unit=point.unit,
    )


def curtail_kw(
    config: SiteConfig, asset_id: str, curtail_pct: float, snapshot: StateSnapshot
) -> float | None:
    """The most power a ``curtail_pct`` command takes off the asset, for the approval rule:
    a PV's rating, a load's uncurtailed draw (measured p_kw over the share still running),
    times the percentage. None when it cannot be known (no reading, fully curtailed)."""
    asset = config.asset(asset_id)
    if isinstance(asset, PvAsset):
        return asset.rated_kw * curtail_pct / 100.0
    full_kw = uncurtailed_kw(asset_id, snapshot)
    return None if full_kw is None else full_kw * curtail_pct / 100.0


def uncurtailed_kw(asset_id: str, snapshot: StateSnapshot) -> float | None:
    """The asset's power without curtailment: measured p_kw over the share still running
    (``curtail_pct``, 0 when not reported). None without a reading or fully curtailed."""
    p_kw = snapshot.get(point_id(asset_id, "p_kw"))
    now_pct = snapshot.get(point_id(asset_id, "curtail_pct"))
    running = 1.0 - (now_pct.value if now_pct is not None else 0.0) / 100.0
    if p_kw is None or running <= 0.0:
        return None
    return abs(p_kw.value) / running


def field_spec(config: SiteConfig) -> FieldSpec:
    def nodes(asset: MeterAsset | BatteryAsset | PvAsset | CurtailableLoadAsset) -> dict[str, str]:
        return {role: p.node for role, p in asset.points.items()}

    meter = config.asset(config.feeder.meter)
    batteries = [
        BatterySpec(
            id=a.id,
            capacity_kwh=a.capacity_kwh,
            max_charge_kw=a.max_charge_kw,
            max_discharge_kw=a.max_discharge_kw,
            efficiency=a.efficiency,
            initial_soc_pct=a.initial_soc_pct,
            nodes=nodes(a),
        )
        for a in config.assets
        if isinstance(a, BatteryAsset)
    ]
    profiles = [
        ProfileSpec(
            id=a.id,
            kind="pv" if isinstance(a, PvAsset) else "load",
            curtailable=isinstance(a, PvAsset)
            or (isinstance(a, CurtailableLoadAsset) and not a.critical),
            nodes=nodes(a),
        )
        for a in config.assets
        if isinstance(a, PvAsset | CurtailableLoadAsset)
    ]
    return FieldSpec(
        meter=MeterSpec(id=meter.id, nodes=nodes(meter)),
        batteries=batteries,
        profiles=profiles,
        bus_voltages=bus_voltage_points(config),
    )


def bus_voltage_points(config: SiteConfig) -> list[BusVoltageSpec]:
    """Site points bound to a network bus voltage: each ``safety.buses`` entry with a
    measured ``point`` reads the voltage of its ``network_bus`` (default: the same id)."""
    out: list[BusVoltageSpec] = []
    for bus in config.safety.buses:
        if bus.point is None:
            continue
        asset_id, _, role = bus.point.partition(".")
        point = config.asset(asset_id).points[role]
        out.append(
            BusVoltageSpec(
                owner=asset_id, role=role, node=point.node, bus=bus.network_bus or bus.id
            )
        )
    return out


def twin_feeder(config: SiteConfig) -> TwinFeeder:
    return TwinFeeder(
        transformer_rating_kw=config.feeder.transformer_rating_kw,
        batteries={
            a.id: TwinBattery(
                id=a.id,
                capacity_kwh=a.capacity_kwh,
                soc_min_pct=a.soc_min_pct,
                soc_max_pct=a.soc_max_pct,
                efficiency=a.efficiency,
            )
            for a in config.assets
            if isinstance(a, BatteryAsset)
        },
    )

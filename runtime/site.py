"""Translate one validated site config into what each package needs.

The config is the single source; safety, the simulator and the connectors
each get their own small view of it, so none of them imports runtime.
"""

from __future__ import annotations

from datetime import timedelta

from connectors.opcua import PointBinding, WriteTarget
from runtime.config import BatteryAsset, CurtailableLoadAsset, MeterAsset, PvAsset, SiteConfig
from safety import (
    AssetLimits,
    BatteryEnergy,
    CommandKind,
    Envelope,
    Policy,
    Range,
)
from simulator import (
    BatterySpec,
    FieldSpec,
    MeterSpec,
    ProfileSpec,
    TwinBattery,
    TwinFeeder,
)


def point_id(asset: str, role: str) -> str:
    return f"{asset}.{role}"


def envelope(config: SiteConfig) -> Envelope:
    assets: dict[str, AssetLimits] = {}
    for asset in config.assets:
        if isinstance(asset, BatteryAsset):
            assets[asset.id] = AssetLimits(
                asset=asset.id,
                ranges={
                    CommandKind.ACTIVE_POWER_KW: Range(
                        min_value=-asset.max_charge_kw, max_value=asset.max_discharge_kw
                    )
                },
                required_points=(point_id(asset.id, "soc_pct"), point_id(asset.id, "p_kw")),
                battery=BatteryEnergy(
                    capacity_kwh=asset.capacity_kwh,
                    soc_min_pct=asset.soc_min_pct,
                    soc_max_pct=asset.soc_max_pct,
                    efficiency=asset.efficiency,
                    soc_point=point_id(asset.id, "soc_pct"),
                ),
            )
        elif isinstance(asset, PvAsset | CurtailableLoadAsset) and "curtail_pct" in asset.points:
            top = asset.max_curtail_pct if isinstance(asset, CurtailableLoadAsset) else 100.0
            if isinstance(asset, CurtailableLoadAsset) and asset.critical:
                continue  # a critical load is never curtailed: no writable range at all
            assets[asset.id] = AssetLimits(
                asset=asset.id,
                ranges={CommandKind.CURTAIL_PCT: Range(min_value=0.0, max_value=top)},
                required_points=(point_id(asset.id, "p_kw"),),
            )
    return Envelope(
        assets=assets,
        max_age=timedelta(seconds=config.safety.max_age_s),
        policies={k: Policy(v) for k, v in config.safety.policies.items()},
    )


def bindings(config: SiteConfig, source_id: str) -> list[PointBinding]:
    return [
        PointBinding(point=point_id(asset.id, role), node_id=point.node, unit=point.unit)
        for asset in config.assets
        for role, point in asset.points.items()
        if point.source == source_id and not role.startswith("cmd_key") and role != "p_setpoint_kw"
    ]


def write_target(battery: BatteryAsset) -> WriteTarget:
    return WriteTarget(
        value_node=battery.points["p_setpoint_kw"].node,
        key_node=battery.points["cmd_key"].node,
        applied_key_node=battery.points["cmd_key_applied"].node,
    )


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
            curtailable=isinstance(a, CurtailableLoadAsset) and not a.critical,
            nodes=nodes(a),
        )
        for a in config.assets
        if isinstance(a, PvAsset | CurtailableLoadAsset)
    ]
    return FieldSpec(
        meter=MeterSpec(id=meter.id, nodes=nodes(meter)), batteries=batteries, profiles=profiles
    )


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

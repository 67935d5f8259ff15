"""Voltage sensitivities declared ``computed``: worked out from the site's network when its
config loads, so the gate's linear voltage check uses the feeder's own impedances.

An asset's ``limits.voltage_pu_per_kw: computed`` (or ``..._per_kvar``) becomes, for every bus of
``safety.buses``, the change of that bus's voltage per kW (kvar) the asset injects, from the power
flow of ``feeder.network`` around its nominal snapshot (``simulator.sensitivity``). Each safety bus
is the network bus named by its ``network_bus`` (default: the bus with its id). Anything that
cannot be computed is a config error naming the field and the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.core.errors import ConfigError, ConfigIssue

if TYPE_CHECKING:
    from runtime.config.model import SiteConfig
    from simulator.sensitivity import Sensitivities

FIELDS = ("voltage_pu_per_kw", "voltage_pu_per_kvar")


def computed_fields(config: SiteConfig) -> dict[str, tuple[str, ...]]:
    """``{asset id: fields declared computed}`` for the assets that declare any."""
    out: dict[str, tuple[str, ...]] = {}
    for asset in config.assets:
        fields = tuple(f for f in FIELDS if getattr(asset.limits, f) == "computed")
        if fields:
            out[asset.id] = fields
    return out


def network_sensitivities(config: SiteConfig, file: str) -> Sensitivities:
    """The network's sensitivities for every asset the network places, or a ConfigError."""
    from simulator import NetworkError, load_network
    from simulator.sensitivity import der_buses, voltage_sensitivities

    network_file = config.feeder.network
    if network_file is None:
        raise ConfigError(
            file, [ConfigIssue("feeder.network", "", "required for computed voltage sensitivities")]
        )
    try:
        net = load_network(network_file)
        return voltage_sensitivities(net, der_buses(net))
    except NetworkError as err:
        raise ConfigError(
            file,
            [ConfigIssue("feeder.network", network_file, f"{err}; computed sensitivities need it")],
        ) from err


def network_bus_of(config: SiteConfig, sens: Sensitivities) -> dict[str, str | None]:
    """``{safety bus id: network bus}``; None where the network has no such bus."""
    out: dict[str, str | None] = {}
    for bus in config.safety.buses:
        name = bus.network_bus or bus.id
        out[bus.id] = name if name in sens.buses else None
    return out


def resolve(config: SiteConfig, file: str) -> SiteConfig:
    """``config`` with every ``computed`` sensitivity replaced by numbers from its network."""
    wanted = computed_fields(config)
    if not wanted:
        return config
    sens = network_sensitivities(config, file)
    buses = network_bus_of(config, sens)
    issues: list[ConfigIssue] = []
    for i, bus in enumerate(config.safety.buses):
        if buses[bus.id] is None:
            issues.append(
                ConfigIssue(
                    f"safety.buses[{i}].network_bus",
                    bus.network_bus or bus.id,
                    f"not a bus of network {sens.network}; name the bus this limit watches "
                    f"(known: {', '.join(sens.buses)})",
                )
            )
    assets = []
    for i, asset in enumerate(config.assets):
        fields = wanted.get(asset.id, ())
        if fields and asset.id not in sens.assets:
            issues.append(
                ConfigIssue(
                    f"assets[{i}].limits.{fields[0]}",
                    "computed",
                    f"network {sens.network} has no PV, battery or flexible load {asset.id}; "
                    "add it to the network or declare {bus: pu per unit} per bus",
                )
            )
            fields = ()
        update: dict[str, dict[str, float]] = {}
        for field in fields:
            per_unit = sens.per_kw if field == "voltage_pu_per_kw" else sens.per_kvar
            update[field] = {
                bus_id: per_unit(asset.id, name)
                for bus_id, name in buses.items()
                if name is not None
            }
        limits = asset.limits.model_copy(update=update) if update else asset.limits
        assets.append(asset.model_copy(update={"limits": limits}) if update else asset)
    if issues:
        raise ConfigError(file, issues)
    return config.model_copy(update={"assets": assets})

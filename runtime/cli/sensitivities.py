"""``gridaios sim sensitivities``: how far each bus voltage moves per kW (kvar) a DER injects.

``--network FILE``: the whole matrix, every DER at every bus, from the power flow.
``--config SITE.yaml``: the coefficients the safety gate uses, per asset and safety bus, marked
declared or computed, next to what the site's network says (declared values that stray from the
network by more than a quarter are flagged: the voltage check is only as good as they are).
Exit 0, or 2 for a bad network or config (with the error).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from runtime.core.errors import ConfigError

STRAY = 0.25  # a declared coefficient this far from the network's is flagged


def run(args: argparse.Namespace) -> int:
    from simulator import NetworkError, load_network
    from simulator.sensitivity import voltage_sensitivities

    if args.network is not None:
        try:
            sens = voltage_sensitivities(load_network(args.network))
        except NetworkError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps(sens.as_json()))
            return 0
        print(f"network {sens.network}: bus voltage change (pu) per unit injected, nominal load")
        print(f"{'asset':<10} {'at':<6} {'per':<5} " + " ".join(f"{b:>10}" for b in sens.buses))
        for i, (asset, bus) in enumerate(zip(sens.assets, sens.asset_buses, strict=True)):
            for per, table in (("kW", sens.pu_per_kw), ("kvar", sens.pu_per_kvar)):
                cells = " ".join(f"{x:>10.3e}" for x in table[i])
                print(f"{asset:<10} {bus:<6} {per:<5} {cells}")
        return 0
    try:
        rows = _config_rows(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"config": args.config, "coefficients": rows}))
        return 0
    print(f"{'asset':<10} {'field':<20} {'bus':<12} {'gate uses':>12} {'how':<9} {'network':>12}")
    for r in rows:
        net = f"{r['network']:.3e}" if r["network"] is not None else "-"
        flag = "  <- strays from the network" if r["strays"] else ""
        print(
            f"{r['asset']:<10} {r['field']:<20} {r['bus']:<12} {r['value']:>12.3e} "
            f"{r['how']:<9} {net:>12}{flag}"
        )
    if not rows:
        print("no asset declares voltage sensitivities (limits.voltage_pu_per_kw/kvar)")
    return 0


def _config_rows(path: str) -> list[dict[str, Any]]:
    from pathlib import Path

    from runtime.config import sensitivities
    from runtime.config.model import load_config, parse_config

    declared = parse_config(Path(path).read_text(encoding="utf-8"), path)
    computed = sensitivities.computed_fields(declared)
    config = load_config(path)
    sens = sensitivities.network_sensitivities(config, path) if config.feeder.network else None
    buses = sensitivities.network_bus_of(config, sens) if sens is not None else {}
    rows: list[dict[str, Any]] = []
    for asset in config.assets:
        for field in sensitivities.FIELDS:
            table = getattr(asset.limits, field)
            for bus_id, value in sorted(table.items()):
                network = None
                name = buses.get(bus_id)
                if sens is not None and name is not None and asset.id in sens.assets:
                    per = sens.per_kw if field == "voltage_pu_per_kw" else sens.per_kvar
                    network = per(asset.id, name)
                rows.append(
                    {
                        "asset": asset.id,
                        "field": field,
                        "bus": bus_id,
                        "network_bus": name,
                        "value": value,
                        "how": "computed" if field in computed.get(asset.id, ()) else "declared",
                        "network": network,
                        "strays": network is not None
                        and abs(value - network) > STRAY * abs(network),
                    }
                )
    return rows

"""``gridaios sim field``: serve a site's points from a scenario on a real OPC UA server."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from connectors.opcua import OpcUaSourceConfig
from runtime import site
from runtime.clock import ScaledClock
from runtime.config import load_config
from runtime.demo import SCENARIO_DIR
from runtime.errors import ConfigError
from simulator import ScenarioError, VirtualField, load_scenario


def register(sub: Any) -> None:
    p = sub.add_parser("sim", help="simulator tools")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    f = actions.add_parser("field", help="run the virtual field for a site config")
    f.add_argument("--config", required=True)
    f.add_argument("--scenario", default="evening-peak")
    f.add_argument("--speed", type=float, default=1.0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        scenario = load_scenario(args.scenario, SCENARIO_DIR)
    except (ConfigError, ScenarioError) as err:
        print(err, file=sys.stderr)
        return 2
    opcua = [s for s in config.sources if isinstance(s, OpcUaSourceConfig)]
    if not opcua:
        print(f"{args.config}: the virtual field serves OPC UA; no opcua source", file=sys.stderr)
        return 2
    endpoint = opcua[0].endpoint
    clock = ScaledClock(scenario.start, args.speed)
    field_ = VirtualField(site.field_spec(config), scenario, clock, endpoint)

    async def serve() -> None:
        await field_.start()
        print(f"virtual field: {scenario.name} at {args.speed:g}x on {endpoint}", flush=True)
        try:
            await field_.run()
        finally:
            await field_.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        return 0
    return 0

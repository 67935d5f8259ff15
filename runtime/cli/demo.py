"""``gridaios demo``: the evening-peak scenario in accelerated time, end to end."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime.cli.serve import add_api_options, api_listen
from runtime.core.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the evening-peak demo against the virtual field")
    p.add_argument("--config", default=None, help="site config (default: configs/demo-feeder.yaml)")
    p.add_argument("--scenario", default="evening-peak", help="scenario name or YAML path")
    p.add_argument(
        "--speed", type=float, default=300.0, help="simulated seconds per wall second (default 300)"
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="simulated seconds to run (default: the whole scenario)",
    )
    approve = p.add_mutually_exclusive_group()
    approve.add_argument(
        "--auto-approve",
        action="store_true",
        help="approve requests above the approval threshold automatically",
    )
    approve.add_argument(
        "--approve-by-hand",
        action="store_true",
        help="keep requests pending for people (console, `gridaios approvals`); use with --api",
    )
    p.add_argument("--db", type=Path, default=None, help="event log path (default under var/demo)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.add_argument(
        "--bridge",
        action="store_true",
        help="run the battery behind a firmware bridge (gridaios-bridge) over MQTT; "
        "default config: configs/demo-feeder-bridge.yaml",
    )
    p.add_argument(
        "--broker",
        default=None,
        help="with --bridge: MQTT broker HOST:PORT (default: start a mosquitto for the run)",
    )
    p.add_argument(
        "--bridge-config",
        type=Path,
        default=None,
        help="with --bridge: the bridge's config (default: configs/bridge-demo.yaml)",
    )
    add_api_options(p, default_api=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from runtime.demo.feeder import default_db_path, load_demo_inputs, run_demo, summary_table
    from simulator import ScenarioError

    if args.speed <= 0:
        print(f"--speed = {args.speed:g}: must be > 0", file=sys.stderr)
        return 2
    if args.duration is not None and args.duration <= 0:
        print(f"--duration = {args.duration:g}: must be > 0 simulated seconds", file=sys.stderr)
        return 2
    if args.bridge:
        if args.api is not None or args.approve_by_hand:
            print(
                "gridaios demo --bridge: --api and --approve-by-hand are not available with "
                "the bridge demo yet; run them without --bridge",
                file=sys.stderr,
            )
            return 2
        return _run_bridge(args)
    try:
        listen = api_listen(args)
    except ValueError as err:
        print(f"gridaios demo: {err}", file=sys.stderr)
        return 2
    try:
        config, scenario = load_demo_inputs(args.config, args.scenario)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    except ScenarioError as err:
        print(err, file=sys.stderr)
        return 2
    db = args.db or default_db_path(datetime.now(UTC))
    if scenario.name == "dr-event":  # an OpenADR VTN process and M&V (runtime/demo/dr.py)
        from runtime.cli.dr import run_demo_dr

        return run_demo_dr(args, config, scenario, db)
    if listen is not None and args.users is None:
        from runtime.cli.users import DEFAULT_USERS

        # users.db next to the event log when one is there (docs/api.md's --db flow), else
        # the store `gridaios users add` writes by default
        beside = db.with_name("users.db")
        args.users = beside if beside.is_file() else DEFAULT_USERS
    if not args.json:
        wall = (args.duration or scenario.duration_s) / args.speed
        print(
            f"gridaios demo: {scenario.name} at {args.speed:g}x (about {wall:.0f} s); "
            f"event log {db}",
            flush=True,
        )
        if listen is not None:
            from runtime.cli.users_hint import users_line

            print(users_line(args.users), flush=True)
    result = asyncio.run(
        run_demo(
            config=config,
            scenario=scenario,
            db_path=db,
            speed=args.speed,
            duration_s=args.duration,
            auto_approve=args.auto_approve and not args.approve_by_hand,
            api=(listen, args.users) if listen is not None else None,
        )
    )
    if args.json:
        print(json.dumps(result.as_json()))
    else:
        print(summary_table(result, scenario.name))
    return 0


def _run_bridge(args: argparse.Namespace) -> int:
    from runtime.demo.bridge import (
        BRIDGE_CONFIG,
        BRIDGE_SITE_CONFIG,
        BridgeDemoError,
        BrokerAddress,
        bridge_summary,
        run_bridge_demo,
    )
    from runtime.demo.feeder import default_db_path, load_demo_inputs, summary_table
    from simulator import ScenarioError

    try:
        broker = BrokerAddress.parse(args.broker) if args.broker else None
        config, scenario = load_demo_inputs(args.config or str(BRIDGE_SITE_CONFIG), args.scenario)
    except (ConfigError, ScenarioError, ValueError) as err:
        print(err, file=sys.stderr)
        return 2
    db = args.db or default_db_path(datetime.now(UTC))
    workdir = db.with_suffix("").with_name(db.stem + "-bridge")
    if not args.json:
        wall = (args.duration or scenario.duration_s) / args.speed
        print(
            f"gridaios demo --bridge: {scenario.name} at {args.speed:g}x (about {wall:.0f} s); "
            f"event log {db}; bridge files in {workdir}",
            flush=True,
        )
    try:
        result = asyncio.run(
            run_bridge_demo(
                config=config,
                scenario=scenario,
                db_path=db,
                speed=args.speed,
                duration_s=args.duration,
                auto_approve=args.auto_approve,
                workdir=workdir,
                bridge_template=args.bridge_config or BRIDGE_CONFIG,
                broker=broker,
            )
        )
    except BridgeDemoError as err:
        print(f"gridaios demo --bridge: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.as_json()))
    else:
        print(summary_table(result.demo))
        print(bridge_summary(result))
    return 0

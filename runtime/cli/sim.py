"""``gridaios sim ...``: the virtual field and the power flow.

* ``sim field``: serve a site's points from a scenario on a real OPC UA server.
* ``sim powerflow --case FILE [--json]``: solve a MATPOWER (.m) or gridaios YAML
  network; with ``--json`` the last line printed is one JSON object.
* ``sim sensitivities (--network FILE | --config SITE.yaml) [--json]``: bus voltage per kW and
  per kvar each DER injects, from the power flow; with a site config, the coefficients the
  safety gate uses per asset and safety bus, declared or computed, next to the network's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.cli import sensitivities
from runtime.core.errors import ConfigError

if TYPE_CHECKING:
    from simulator import Scenario


def register(sub: Any) -> None:
    p = sub.add_parser("sim", help="simulator tools")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    f = actions.add_parser("field", help="run the virtual field for a site config")
    f.add_argument("--config", required=True)
    f.add_argument("--scenario", default="evening-peak")
    f.add_argument("--speed", type=float, default=1.0)
    f.add_argument(
        "--start",
        default=None,
        metavar="now|ISO8601",
        help="play the scenario from this instant instead of its own date (`now`: from the "
        "wall clock, so `gridaios run` on the wall clock finds the readings fresh; needs "
        "--speed 1)",
    )
    f.add_argument(
        "--network",
        default=None,
        help="feeder network (.m or .yaml): the meter comes from a power flow, and so do "
        "bus voltage points (safety.buses[*].point, on their network_bus); "
        "needed by scenarios with line trips",
    )
    f.add_argument(
        "--mqtt",
        default=None,
        metavar="HOST:PORT",
        help="also serve every device over MQTT (JSON wire format v1) on this broker",
    )
    f.set_defaults(func=run)
    pf = actions.add_parser("powerflow", help="solve the power flow of a network case")
    pf.add_argument("--case", required=True, help="MATPOWER .m (version 2) or gridaios .yaml")
    pf.add_argument("--json", action="store_true", help="print one JSON object (last line)")
    pf.set_defaults(func=run_powerflow)
    sv = actions.add_parser(
        "sensitivities", help="bus voltage per kW / kvar of each DER, from the power flow"
    )
    where = sv.add_mutually_exclusive_group(required=True)
    where.add_argument("--network", help="MATPOWER .m or gridaios .yaml network")
    where.add_argument("--config", help="site config: the gate's coefficients vs the network's")
    sv.add_argument("--json", action="store_true", help="print one JSON object")
    sv.set_defaults(func=sensitivities.run)
    v = actions.add_parser(
        "validate", help="run a plan on the network twin over a scenario, with the baseline"
    )
    v.add_argument("--network", required=True, help="MATPOWER .m or gridaios .yaml network")
    v.add_argument("--scenario", default="evening-peak", help="scenario name or YAML path")
    v.add_argument(
        "--plan",
        default=None,
        help="JSON file: a list of {asset, kind, value, start, end[, key]} (default: empty)",
    )
    v.add_argument("--soc", action="append", default=[], metavar="BATTERY=PCT", help="initial SoC")
    v.add_argument("--step-s", type=float, default=300.0, help="time step (default 300 s)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--png", type=Path, default=None, help="write the report plot here")
    v.add_argument("--json", action="store_true", help="print the report as one JSON object")
    v.set_defaults(func=run_validate)


def run_powerflow(args: argparse.Namespace) -> int:
    from simulator import NetworkError, load_network, solve

    try:
        network = load_network(args.case)
    except NetworkError as err:
        print(f"error: {err}", file=sys.stderr)
        if args.json:
            print(json.dumps({"converged": False, "error": str(err)}))
        return 2
    result = solve(network)
    if args.json:
        print(json.dumps({"case": args.case, "network": network.name, **result.as_json()}))
    else:
        loading = (
            f"{result.max_loading_pct:.1f} % ({result.max_loading_branch})"
            if result.max_loading_pct is not None
            else "no rated branches"
        )
        rows = [
            ("network", f"{network.name}: {network.n_bus} buses, {network.n_branch} branches"),
            ("converged", f"{result.converged} ({result.method}, {result.iterations} iterations)"),
            ("losses", f"{result.losses_kw:.2f} kW"),
            ("min voltage", f"{result.vmin_pu:.5f} pu at bus {result.vmin_bus}"),
            ("max voltage", f"{result.vmax_pu:.5f} pu at bus {result.vmax_bus}"),
            ("max loading", loading),
            ("substation", f"{result.slack_p_kw:.1f} kW, {result.slack_q_kvar:.1f} kvar"),
        ]
        for key, value in rows:
            print(f"{key:<12} {value}")
        if not result.converged:
            print(result.message, file=sys.stderr)
    return 0 if result.converged else 1


def run_validate(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from runtime.demo.feeder import SCENARIO_DIR
    from safety import Command, CommandKind, Origin
    from simulator import (
        ForecastError,
        GridState,
        NetworkError,
        ScenarioError,
        forecast_from_scenario,
        load_network,
        load_scenario,
        plot_png,
        validate_dispatch,
    )

    try:
        network = load_network(args.network)
        scenario = load_scenario(args.scenario, SCENARIO_DIR)
        soc = {b.id: 50.0 for b in network.batteries}
        for item in args.soc:
            battery, _, pct = item.partition("=")
            soc[battery] = float(pct)
        raw = json.loads(Path(args.plan).read_text(encoding="utf-8")) if args.plan else []
        plan = [
            Command(
                key=str(c.get("key", f"plan-{i}")),
                asset=str(c["asset"]),
                kind=CommandKind(c.get("kind", "active_power_kw")),
                value=float(c["value"]),
                start=datetime.fromisoformat(c["start"]),
                end=datetime.fromisoformat(c["end"]),
                origin=Origin.OPERATOR,
            )
            for i, c in enumerate(raw)
        ]
        forecast = forecast_from_scenario(
            scenario,
            scenario.start,
            timedelta(seconds=scenario.duration_s),
            timedelta(seconds=args.step_s),
        )
        report = validate_dispatch(network, GridState(soc_pct=soc), forecast, plan, seed=args.seed)
    except (NetworkError, ScenarioError, ForecastError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (KeyError, ValueError, TypeError) as err:
        print(
            f"error: {args.plan}: each command needs asset, value, start, end: {err}",
            file=sys.stderr,
        )
        return 2
    if args.png is not None:
        args.png.write_bytes(plot_png(report))
    if args.json:
        print(json.dumps(report.as_json()))
    else:
        print(report.summary())
        for v in report.violations:
            print(f"  {v.kind:<13} {v.element:<8} {v.message}")
        for name, k in (("plan", report.plan), ("no action", report.baseline)):
            print(
                f"{name:>9}: peak {k.peak_import_kw:,.0f} kW at {k.peak_at:%H:%M}, "
                f"losses {k.losses_kwh:,.1f} kWh, vmin {k.vmin_pu:.4f} pu ({k.vmin_bus}), "
                f"shifted {k.energy_shifted_kwh:,.0f} kWh"
            )
    return 0 if report.ok else 1


def _started(scenario: Scenario, start: str, speed: float) -> Scenario:
    """The scenario played from ``start`` (``now``: the wall clock, to the second)."""
    from simulator import ScenarioError

    if start == "now":
        if speed != 1.0:
            raise ScenarioError(
                f"--start now with --speed {speed:g}: readings would be stamped ahead of the "
                "wall clock and a runtime on it refuses them as from the future; use --speed 1"
            )
        at = datetime.now(UTC).replace(microsecond=0)
    else:
        try:
            at = datetime.fromisoformat(start)
        except ValueError:
            at = None
        if at is None or at.utcoffset() is None:
            raise ScenarioError(
                f"--start {start}: give `now` or an ISO 8601 time with its offset, "
                "e.g. 2026-07-15T15:30:00+00:00"
            ) from None
    return scenario.model_copy(update={"start": at})


def run(args: argparse.Namespace) -> int:
    from connectors.opcua import OpcUaSourceConfig
    from runtime.config import site
    from runtime.config.model import load_config
    from runtime.core.clock import ScaledClock
    from runtime.demo.feeder import SCENARIO_DIR
    from simulator import NetworkError, ScenarioError, VirtualField, load_network, load_scenario

    try:
        config = load_config(args.config)
        scenario = load_scenario(args.scenario, SCENARIO_DIR)
        if args.start is not None:
            scenario = _started(scenario, args.start, args.speed)
        network = load_network(args.network) if args.network else None
        opcua = [s for s in config.sources if isinstance(s, OpcUaSourceConfig)]
        if not opcua:
            print(
                f"{args.config}: the virtual field serves OPC UA; no opcua source", file=sys.stderr
            )
            return 2
        endpoint = opcua[0].endpoint
        clock = ScaledClock(scenario.start, args.speed)
        field_ = VirtualField(site.field_spec(config), scenario, clock, endpoint, network=network)
    except (ConfigError, ScenarioError, NetworkError) as err:
        print(err, file=sys.stderr)
        return 2

    async def serve() -> None:
        from simulator.mqttfield import MqttField

        await field_.start()
        mqtt_side = None
        if args.mqtt:
            host, _, port = args.mqtt.rpartition(":")
            mqtt_side = MqttField(field_, config.site.id, host or "127.0.0.1", int(port))
            await mqtt_side.start()
        where = endpoint + (f" and mqtt://{args.mqtt}" if args.mqtt else "")
        print(
            f"virtual field: {scenario.name} at {args.speed:g}x from "
            f"{scenario.start:%Y-%m-%d %H:%M:%S} UTC on {where}",
            flush=True,
        )
        # SIGTERM (a service manager, a test harness) stops it like Ctrl-C: the OPC UA
        # server and the MQTT devices close their sessions, and the exit code is 0.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        running = asyncio.create_task(field_.run(), name="virtual-field")
        stopping = asyncio.create_task(stop.wait(), name="virtual-field-stop")
        try:
            await asyncio.wait((running, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (running, stopping):
                task.cancel()
            await asyncio.gather(running, stopping, return_exceptions=True)
            if mqtt_side is not None:
                await mqtt_side.stop()
            await field_.stop()
        if stop.is_set():
            print("virtual field: stopped", flush=True)
        elif not running.cancelled():
            running.result()  # the scenario ended, or the field failed: say so

    asyncio.run(serve())
    return 0

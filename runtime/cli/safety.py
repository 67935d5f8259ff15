"""``gridaios safety check|example``: run the gate on a state and a plan, offline.

Exit codes of ``check``: 0 all accepted, 1 any clamped or rejected, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from runtime.cli.safety_io import (
    BadInput,
    parse_forecast,
    parse_history,
    parse_plan,
    parse_state,
    plan_json,
    read_json,
    state_json,
    verdicts_json,
    verdicts_text,
)
from runtime.config import site
from runtime.config.model import SiteConfig, load_config
from runtime.core.errors import ConfigError
from safety import (
    Accepted,
    Clamped,
    Command,
    CommandKind,
    Envelope,
    Origin,
    Quality,
    Reading,
    StateSnapshot,
    evaluate,
)

EXIT_OK, EXIT_NOT_ALL_ACCEPTED, EXIT_BAD_INPUT = 0, 1, 2
# Points that are written by the runtime, never read as state.
WRITE_ONLY_ROLES = frozenset({"p_setpoint_kw", "q_setpoint_kvar", "switch_cmd", "cmd_key"})
TEXT_ROLES = frozenset({"cmd_key", "cmd_key_applied"})


def register(sub: Any) -> None:
    p = sub.add_parser("safety", help="check a plan against the safety envelope, offline")
    inner = p.add_subparsers(dest="safety_command", required=True, metavar="SUBCOMMAND")
    check = inner.add_parser(
        "check", help="print the gate's verdicts (exit 0 all accepted, 1 otherwise, 2 bad input)"
    )
    check.add_argument("--config", required=True, help="site config YAML")
    check.add_argument(
        "--state",
        required=True,
        help='state JSON: {"now", "values": [...]} (or the output of `safety example`)',
    )
    check.add_argument(
        "--plan",
        required=True,
        help='plan JSON: {"commands": [...]} (or the output of `safety example`)',
    )
    check.add_argument(
        "--forecast",
        default=None,
        help='optional forecast JSON: {"start", "step_s", "feeder_net_kw": {"feeder": [...]}, '
        '"bus_voltage_pu": {...}} for the plan-level thermal and voltage checks',
    )
    check.add_argument(
        "--history",
        default=None,
        help='optional JSON {"dispatches": [{"asset", "kind", "value", "at"}]} already sent '
        "(ramp references, rate limits, minimum on/off times)",
    )
    check.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    check.set_defaults(func=run_check)
    example = inner.add_parser("example", help="print a valid example state and plan for a site")
    example.add_argument("--config", required=True, help="site config YAML")
    example.add_argument("--now", default=None, help="ISO 8601 instant (default: now, UTC)")
    example.set_defaults(func=run_example)


def run_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        known = {site.point_id(a.id, r) for a in config.assets for r in a.points}
        state, now = parse_state(_part(read_json(args.state), "state"), args.state, known)
        commands = parse_plan(_part(read_json(args.plan), "plan"), args.plan)
        envelope = site.envelope(config)
        forecast = (
            parse_forecast(
                read_json(args.forecast), args.forecast, set(envelope.feeders), set(envelope.buses)
            )
            if args.forecast
            else None
        )
        history = parse_history(read_json(args.history), args.history) if args.history else []
    except (ConfigError, BadInput) as err:
        for issue in err.issues:
            print(issue.render(err.file), file=sys.stderr)
        print(f"{err.file}: {len(err.issues)} error(s); nothing was evaluated", file=sys.stderr)
        return EXIT_BAD_INPUT
    verdicts = evaluate(commands, state, envelope, now, history=history, forecast=forecast)
    if args.json:
        print(json.dumps(verdicts_json(verdicts), indent=2))
    else:
        print(verdicts_text(verdicts))
    if all(isinstance(v, Accepted) for v in verdicts):
        return EXIT_OK
    return EXIT_NOT_ALL_ACCEPTED


def _part(raw: Any, name: str) -> Any:
    """Accept the ``{"state": ..., "plan": ...}`` that ``example`` prints for either file."""
    if isinstance(raw, dict) and set(raw) == {"state", "plan"}:
        return raw[name]
    return raw


def run_example(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        now = _parse_now(args.now)
    except ConfigError as err:
        for issue in err.issues:
            print(issue.render(err.file), file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValueError as err:
        print(f"--now = {args.now}: {err}; give e.g. 2026-07-15T18:00:00+00:00", file=sys.stderr)
        return EXIT_BAD_INPUT
    state = example_state(config, now)
    envelope = site.envelope(config)
    commands = example_plan(envelope, state, now)
    print(json.dumps({"state": state_json(state, now), "plan": plan_json(commands)}, indent=2))
    return EXIT_OK


def _parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    now = datetime.fromisoformat(text)
    if now.utcoffset() is None:
        raise ValueError("needs a UTC offset")
    return now


def example_state(config: SiteConfig, now: datetime) -> StateSnapshot:
    """Plausible, fresh, good readings for every readable numeric point of the site."""
    locks = {
        site.point_id(a.id, lock.point): lock.active_when
        for a in config.assets
        for lock in a.limits.interlocks
    }
    bus_points = {b.point for b in config.safety.buses if b.point}
    readings: dict[str, Reading] = {}
    for asset in config.assets:
        for role in asset.points:
            if role in WRITE_ONLY_ROLES or role in TEXT_ROLES:
                continue
            point = site.point_id(asset.id, role)
            value = _example_value(config, asset.id, role)
            if point in locks:
                value = 0.0 if locks[point] != 0.0 else 1.0  # the interlock is not active
            if point in bus_points:
                value = 1.0
            readings[point] = Reading(point=point, value=value, ts=now, quality=Quality.GOOD)
    return StateSnapshot(readings=readings)


def _example_value(config: SiteConfig, asset_id: str, role: str) -> float:
    asset = config.asset(asset_id)
    if asset.id == config.feeder.meter and role == "p_kw":
        return round(config.feeder.transformer_rating_kw * 0.5, 1)
    if role == "soc_pct" and hasattr(asset, "soc_min_pct"):
        battery = config.battery(asset_id)
        return round((battery.soc_min_pct + battery.soc_max_pct) / 2, 1)
    if role == "p_kw" and hasattr(asset, "rated_kw"):
        return round(float(asset.rated_kw) * 0.5, 1)
    if role == "p_kw" and asset.type == "curtailable_load":
        return 100.0
    if role == "switch_state":
        return 1.0
    return 0.0


def example_plan(envelope: Envelope, state: StateSnapshot, now: datetime) -> list[Command]:
    """One small command per writable asset and kind, adjusted until the gate accepts it.

    A clamped command takes the value the gate allowed; one refused by a time
    window is moved by whole hours; one refused whatever we try is left out.
    """
    chosen: list[Command] = []
    for asset_id in sorted(envelope.assets):
        limits = envelope.assets[asset_id]
        for kind in sorted(limits.ranges, key=lambda k: k.value):
            rng = limits.ranges[kind]
            value = 1.0 if kind is CommandKind.SWITCH else round(0.1 * rng.max_value, 1)
            for hours in range(24):
                start = now + timedelta(hours=hours)
                command = Command(
                    key=f"example-{asset_id}-{kind.value}",
                    asset=asset_id,
                    kind=kind,
                    value=value,
                    start=start,
                    end=start + timedelta(minutes=15),
                    origin=Origin.OPERATOR,
                )
                (verdict,) = evaluate([*chosen, command], state, envelope, now)[-1:]
                if isinstance(verdict, Clamped):
                    command = _with_value(command, verdict.value)
                    (verdict,) = evaluate([*chosen, command], state, envelope, now)[-1:]
                if isinstance(verdict, Accepted):
                    chosen.append(command)
                    break
    return chosen


def _with_value(command: Command, value: float) -> Command:
    return Command(
        key=command.key,
        asset=command.asset,
        kind=command.kind,
        value=value,
        start=command.start,
        end=command.end,
        origin=command.origin,
    )

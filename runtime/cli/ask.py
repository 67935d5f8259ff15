"""``gridaios ask "TEXT"``: an operator request -> typed intent -> the gate's verdict. Never sends.

The intent comes from the model router (rules first, then the local LLM). It
becomes an ordinary operator command and goes through ``safety.evaluate``
against the site envelope; the output says which approval the normal path
would need. Nothing is written to a device here; with ``--propose`` the request is
queued in the runtime's event log (``agent.intent_requested``) and the running
conductor's operator-intent agent proposes it through the normal path.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import uuid
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from runtime.approvals.book import requirement
from runtime.config import site
from runtime.config.model import BatteryAsset, SiteConfig, load_config
from runtime.core.clock import Clock, WallClock
from runtime.core.errors import ConfigError
from runtime.log import records
from safety import Command, CommandKind, Origin, Quality, Reading, StateSnapshot, evaluate

DEFAULT_CONFIG = "configs/demo-feeder.yaml"
DEFAULT_ROUTER = "configs/router.yaml"
DEFAULT_DB = Path("var/gridaios/events.db")


def register(sub: Any) -> None:
    p = sub.add_parser("ask", help="operator request -> typed intent and the gate's verdict")
    p.add_argument("text", help='e.g. "hold battery 1 at 200 kW until 19:00"')
    p.add_argument("--config", default=DEFAULT_CONFIG, help="site config YAML")
    p.add_argument("--router", default=None, help="router YAML (default configs/router.yaml)")
    p.add_argument("--tz", default="UTC", help="zone of times in the request (default UTC)")
    p.add_argument("--no-llm", action="store_true", help="rules only, never load the LLM")
    p.add_argument(
        "--state",
        choices=("config", "none"),
        default="config",
        help="state the gate sees: initial values from the config (default) or none",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--propose",
        action="store_true",
        help="queue the request for the running conductor (its operator-intent agent proposes "
        "it; the gate, simulator and approvals decide)",
    )
    p.add_argument("--user", default=None, help="proposer with --propose (default: login name)")
    p.add_argument(
        "--db",
        type=Path,
        default=DEFAULT_DB,
        help=f"the runtime's event log (default {DEFAULT_DB})",
    )
    p.set_defaults(func=run)


def assumed_state(config: SiteConfig, now: datetime) -> StateSnapshot:
    """Initial values from the config, marked good at ``now``: not live telemetry."""
    readings: dict[str, Reading] = {}
    for asset in config.assets:
        for role in asset.points:
            value = 0.0
            if role == "soc_pct" and isinstance(asset, BatteryAsset):
                value = asset.initial_soc_pct
            elif role != "p_kw":
                continue
            point = site.point_id(asset.id, role)
            readings[point] = Reading(point=point, value=value, ts=now, quality=Quality.GOOD)
    return StateSnapshot(readings=readings)


def to_command(intent: Any, config: SiteConfig, now: datetime, zone: ZoneInfo) -> Command | None:
    if intent.action == "unknown":
        return None
    kind = CommandKind.CURTAIL_PCT if intent.action == "curtail" else CommandKind.ACTIVE_POWER_KW
    value = 0.0 if intent.action == "stop" else float(intent.value)
    if intent.action == "discharge":
        value = abs(value)
    if intent.until:
        hh, mm = (int(x) for x in intent.until.split(":"))
        local_now = now.astimezone(zone)
        end_local = datetime.combine(local_now.date(), time(hh, mm), tzinfo=zone)
        if end_local <= local_now:
            end_local += timedelta(days=1)
        end = end_local.astimezone(now.tzinfo)
    else:
        end = now + timedelta(seconds=config.policy.peak_shaving.command_duration_s)
    return Command(
        key=f"ask-{uuid.uuid4().hex[:12]}",
        asset=intent.asset,
        kind=kind,
        value=value,
        start=now,
        end=end,
        origin=Origin.OPERATOR,
    )


def run(args: argparse.Namespace, clock: Clock | None = None) -> int:
    from forecasting import ForecastError
    from forecasting.assistant import Assistant
    from forecasting.router import Router, load_router_config

    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    try:
        zone = ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"--tz {args.tz!r}: unknown time zone (e.g. UTC, Europe/Berlin)", file=sys.stderr)
        return 2
    router_file = args.router or (
        str(Path(args.config).parent / config.forecast.router)
        if config.forecast and config.forecast.router
        else DEFAULT_ROUTER
    )
    try:
        router = Router(load_router_config(router_file))
    except ForecastError as err:
        print(err, file=sys.stderr)
        return 2
    now = (clock or WallClock())()
    try:
        assistant = Assistant(router, llm=None) if args.no_llm else Assistant(router)
        routed = assistant.intent(args.text)
    finally:
        router.close()
    intent = routed.value.intent
    command = to_command(intent, config, now, zone)
    out: dict[str, Any] = {
        "request": args.text,
        "intent": intent.model_dump(),
        "tier": routed.tier,
        "note": routed.value.note,
        "attempts": list(routed.attempts),
        "state": "assumed from config initial values (not live)"
        if args.state == "config"
        else "none (the gate fails closed)",
        "dispatched": False,
    }
    if command is None:
        out.update(command=None, verdict=None, approval=None)
    else:
        state = assumed_state(config, now) if args.state == "config" else StateSnapshot()
        verdict = evaluate([command], state, site.envelope(config), now)[0]
        vj = records.gated(verdict).model_dump(mode="json", exclude={"kind", "v", "recheck"})
        out.update(command=records.command_body(command).model_dump(mode="json"), verdict=vj)
        kw = vj["value"] if command.kind is CommandKind.ACTIVE_POWER_KW else None
        out["approval"] = (
            requirement(kw, config.approvals).value if kw is not None and vj["value"] else None
        )
    if args.propose:
        if command is None:
            print("--propose: the request was not understood; nothing queued", file=sys.stderr)
            return 2
        if not args.db.is_file():
            print(f"--db {args.db}: no event log there; pass the runtime's", file=sys.stderr)
            return 2
        from runtime.agents.intent import request
        from runtime.log.eventlog import EventLog

        log = EventLog(args.db)
        try:
            user = args.user or getpass.getuser()
            out["requested"] = request(
                log, user=user, text=args.text, intent=intent, tier=routed.tier, now=now
            )
        finally:
            log.close()
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"request : {args.text}")
    print(f"intent  : {json.dumps(out['intent'])}  via {routed.tier} ({routed.value.note})")
    if command is None:
        print("verdict : none: the request was not understood, nothing is proposed")
        return 0
    v = out["verdict"]
    print(f"command : {command.asset} {command.kind.value} {command.value:g} until {command.end}")
    print(f"verdict : {v['outcome']}" + (f" at {v['value']:g}" if v["value"] is not None else ""))
    for hit in v["constraints"]:
        print(f"          {hit['constraint']}: {hit['reason']}")
    print(f"state   : {out['state']}")
    if out["approval"]:
        print(f"approval: {out['approval']} (via the normal approval path; nothing was sent)")
    else:
        print("approval: n/a; nothing was sent")
    if out.get("requested"):
        print(f"queued  : request {out['requested']} for the running conductor (agent.decided)")
    return 0

"""``gridaios dr report EVENT``: what a DR event delivered against its baseline (docs/dr.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from runtime.audit.dr_report import ReportError, as_html, as_json, as_text, report
from runtime.config.model import load_config
from runtime.core.errors import ConfigError
from runtime.ingest.historian import Historian
from runtime.log.eventlog import EventLog

DEFAULT_DB = Path("var/gridaios/events.db")
DEFAULT_HISTORY = Path("var/gridaios/history")


def register(sub: Any) -> None:
    p = sub.add_parser("dr", help="demand-response programs: M&V reports of DR events")
    dr = p.add_subparsers(dest="dr_command", required=True, metavar="ACTION")
    rep = dr.add_parser("report", help="baseline, delivered kW and shortfall of one DR event")
    rep.add_argument("event", help="the DR event id (the OpenADR event id)")
    rep.add_argument("--db", type=Path, default=DEFAULT_DB, help="event log")
    rep.add_argument("--config", type=Path, default=None, help="site config (meter, programs)")
    rep.add_argument("--history", type=Path, default=DEFAULT_HISTORY, help="historian root")
    rep.add_argument("--point", default=None, help="meter point (default <feeder.meter>.p_kw)")
    rep.add_argument("--json", action="store_true", help="one JSON object")
    rep.add_argument("--html", type=Path, default=None, help="write an HTML report with a plot")
    rep.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.db.is_file():
        print(f"--db {args.db}: no event log there; give the runtime's --db", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config) if args.config is not None else None
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    log = EventLog(args.db, readonly=True)
    try:
        window, result = report(
            log,
            args.event,
            config=config,
            history=Historian(args.history) if args.history.is_dir() else None,
            point=args.point,
        )
    except ReportError as err:
        print(err, file=sys.stderr)
        return 2
    finally:
        log.close()
    if args.html is not None:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(as_html(window, result), encoding="utf-8")
    if args.json:
        print(orjson.dumps(as_json(window, result)).decode())
    else:
        print(as_text(window, result))
        if args.html is not None:
            print(f"html report: {args.html}")
    return 0


def run_demo_dr(args: argparse.Namespace, config: Any, scenario: Any, db: Path) -> int:
    """``gridaios demo --scenario dr-event``: see runtime/demo/dr.py."""
    import asyncio
    import json

    from runtime.demo.dr import run_dr_demo, summary

    def say(text: str) -> None:
        if not args.json:
            print(text, flush=True)

    say(f"gridaios demo: {scenario.name} at {args.speed:g}x; event log {db}")
    result = asyncio.run(
        run_dr_demo(
            config=config,
            scenario=scenario,
            db_path=db,
            speed=args.speed,
            duration_s=args.duration,
            auto_approve=args.auto_approve and not args.approve_by_hand,
            say=say,
        )
    )
    if args.json:
        print(json.dumps(result.as_json()))
    else:
        print(summary(result))
    return 0

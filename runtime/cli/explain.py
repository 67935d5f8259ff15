"""``gridaios explain DISPATCH_ID``: the whole decision chain of one dispatch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from runtime.audit.explain import explain
from runtime.cli.audit import DEFAULT_DB
from runtime.core.errors import NotFound
from runtime.log.eventlog import EventLog


def register(sub: Any) -> None:
    p = sub.add_parser("explain", help="why did this dispatch happen: its whole decision record")
    p.add_argument("dispatch_id")
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help="event log (SQLite)")
    p.add_argument(
        "--text", action="store_true", help="in sentences (why, gate, twin, approvals, device)"
    )
    p.add_argument("--tz", default="UTC", help="zone of the times in --text (default UTC)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.db.exists():
        print(f"--db {args.db}: no event log there", file=sys.stderr)
        return 2
    log = EventLog(args.db)
    try:
        if args.text:
            print(_sentences(log, args.dispatch_id, args.tz))
            return 0
        print(explain(log, args.dispatch_id))
    except NotFound as err:
        print(err, file=sys.stderr)
        return 1
    finally:
        log.close()
    return 0


def _sentences(log: EventLog, dispatch_id: str, tz: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from runtime.words.narrate import narrate

    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise NotFound(f"--tz {tz!r}: unknown time zone (e.g. UTC, Europe/Berlin)") from err
    chain = list(log.events(dispatch_id=dispatch_id))
    if not chain:
        raise NotFound(f"no dispatch {dispatch_id!r} in this log (gridaios history lists them)")
    return narrate(chain, zone)

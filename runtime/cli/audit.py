"""``gridaios audit verify|show``: check the hash chain; print one dispatch's events."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runtime.log.eventlog import EventLog

DEFAULT_DB = Path("var/gridaios/events.db")


def register(sub: Any) -> None:
    p = sub.add_parser("audit", help="verify the event log or show a dispatch's chain")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="exit 0 if the hash chain is intact")
    verify.add_argument("--db", type=Path, default=DEFAULT_DB)
    show = actions.add_parser("show", help="every event of one dispatch")
    show.add_argument("--db", type=Path, default=DEFAULT_DB)
    show.add_argument("dispatch_id")
    compact = actions.add_parser(
        "compact", help="retention: drop telemetry payloads older than N days (chain stays)"
    )
    compact.add_argument("--db", type=Path, default=DEFAULT_DB)
    compact.add_argument("--older-than-days", type=float, required=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.db.exists():
        print(f"--db {args.db}: no event log there", file=sys.stderr)
        return 2
    log = EventLog(args.db)
    try:
        if args.action == "verify":
            bad = log.verify()
            if bad is None:
                count = log.count()
                print(f"{args.db}: chain intact ({count} events)")
                return 0
            print(f"{args.db}: chain broken at record {bad}", file=sys.stderr)
            return 1
        if args.action == "compact":
            if args.older_than_days < 0:
                print(
                    f"--older-than-days = {args.older_than_days:g}: must be >= 0", file=sys.stderr
                )
                return 2
            now = datetime.now(UTC)
            count = log.compact(before=now - timedelta(days=args.older_than_days), ts=now)
            print(f"{args.db}: {count} telemetry payloads compacted; chain still verifiable")
            return 0
        found = False
        for event in log.events(dispatch_id=args.dispatch_id):
            found = True
            print(
                f"{event.seq:>6}  {event.ts.isoformat()}  {event.kind:<20} "
                f"{json.dumps(dict(event.payload))}"
            )
        if not found:
            print(f"no events for dispatch {args.dispatch_id}", file=sys.stderr)
            return 1
        return 0
    finally:
        log.close()

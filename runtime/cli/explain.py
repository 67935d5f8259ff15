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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.db.exists():
        print(f"--db {args.db}: no event log there", file=sys.stderr)
        return 2
    log = EventLog(args.db)
    try:
        print(explain(log, args.dispatch_id))
    except NotFound as err:
        print(err, file=sys.stderr)
        return 1
    finally:
        log.close()
    return 0

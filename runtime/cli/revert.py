"""``gridaios revert DISPATCH_ID --user U --reason R``: put an asset back to its rollback point."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime.cli.audit import DEFAULT_DB
from runtime.conductor.interventions import request
from runtime.core.errors import GridaiosError
from runtime.log.eventlog import EventLog


def register(sub: Any) -> None:
    p = sub.add_parser("revert", help="ask the running conductor to revert a verified dispatch")
    p.add_argument("dispatch_id")
    p.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    p.add_argument("--user", default=None, help="operator name (default: login name)")
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help="event log (SQLite)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.db.exists():
        print(f"--db {args.db}: no event log there", file=sys.stderr)
        return 2
    log = EventLog(args.db)
    try:
        user = args.user or getpass.getuser()
        request(log, args.dispatch_id, user, args.reason, datetime.now(UTC))
    except GridaiosError as err:
        print(err, file=sys.stderr)
        return 1
    finally:
        log.close()
    print(
        f"revert of {args.dispatch_id} requested by {user}; the conductor sends the rollback "
        f"value through the gate (see `gridaios explain {args.dispatch_id}`)"
    )
    return 0

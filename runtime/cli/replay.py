"""``gridaios replay --from T --to T``: re-run the decisions on recorded inputs, list changes."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime.audit.replay import replay
from runtime.cli.audit import DEFAULT_DB
from runtime.config.model import load_config
from runtime.core.errors import ConfigError
from runtime.log.eventlog import EventLog


def utc_time(text: str) -> datetime:
    """ISO 8601; a time without an offset is taken as UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO time; use e.g. 2026-07-15T17:00:00Z"
        ) from err
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def register(sub: Any) -> None:
    p = sub.add_parser("replay", help="re-run policy, gate, validation and approval rule")
    p.add_argument("--from", dest="since", type=utc_time, required=True, help="ISO time (UTC)")
    p.add_argument("--to", dest="until", type=utc_time, required=True, help="ISO time (UTC)")
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help="event log (SQLite)")
    p.add_argument(
        "--config", type=Path, default=None, help="candidate site config (default: as recorded)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.db.exists():
        print(f"--db {args.db}: no event log there", file=sys.stderr)
        return 2
    if args.until <= args.since:
        print(f"--to {args.until.isoformat()} must be after --from", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config) if args.config else None
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    log = EventLog(args.db)
    try:
        result = replay(log, args.since, args.until, config=config)
    finally:
        log.close()
    for d in result.differences:
        print(f"{d.dispatch_id}  {d.decision:<13} recorded: {d.recorded}  replayed: {d.replayed}")
    print(
        f"{result.dispatches} dispatches, {result.decisions} decisions re-run, "
        f"{len(result.differences)} differ"
        + (f"; {len(result.skipped)} skipped (inputs not recorded)" if result.skipped else "")
        + (
            f"; {len(result.proposal_not_rerun)} proposed by other agents "
            "(gate and approval rule re-run, not the proposal)"
            if result.proposal_not_rerun
            else ""
        )
    )
    return 1 if result.differences else 0

"""``gridaios canary start|status|promote|rollback``: a candidate decides live, never dispatched.

Each action is an event in the log (``canary.started``, ``canary.promoted``,
``canary.rolled_back``); the running conductor follows them. ``status --report``
builds the comparison from the ``canary.decision`` events the conductor recorded.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime.cli.audit import DEFAULT_DB


def register(sub: Any) -> None:
    p = sub.add_parser(
        "canary", help="run a candidate policy live in shadow mode; promote or roll back"
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = actions.add_parser("start", help="start a canary: the conductor records its decisions")
    s.add_argument("--candidate", required=True, help="a name under policy.candidates")
    _common(s, config=True)
    st = actions.add_parser("status", help="the active canary and how its decisions compare")
    st.add_argument("--report", type=Path, default=None, help="write the HTML comparison here")
    st.add_argument("--json", action="store_true", help="print one JSON object (last line)")
    st.add_argument("--db", type=Path, default=DEFAULT_DB, help="event log (SQLite)")
    pr = actions.add_parser("promote", help="make the active canary the production policy")
    _common(pr, config=True)
    rb = actions.add_parser("rollback", help="stop the active canary; production is unchanged")
    _common(rb, config=False)
    p.set_defaults(func=run)


def _common(p: argparse.ArgumentParser, *, config: bool) -> None:
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help="event log (SQLite)")
    p.add_argument("--user", default=None, help="who acts (default: the login name)")
    p.add_argument("--reason", default="", help="why, for the audit trail")
    if config:
        p.add_argument("--config", default=None, help="site config (default: the demo feeder)")


def run(args: argparse.Namespace) -> int:
    from runtime.config.model import load_config
    from runtime.core.errors import ConfigError
    from runtime.decide.step import UnknownCandidate
    from runtime.demo.feeder import DEFAULT_CONFIG
    from runtime.log.eventlog import EventLog
    from runtime.shadow import canary
    from runtime.shadow.canary_report import summarize, write_report

    if args.action == "status" and not args.db.exists():
        print(f"--db {args.db}: no event log there", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    user = "" if args.action == "status" else (args.user or getpass.getuser())
    try:
        config = (
            load_config(args.config or DEFAULT_CONFIG)
            if args.action in ("start", "promote")
            else None
        )
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    args.db.parent.mkdir(parents=True, exist_ok=True)
    log = EventLog(args.db)
    try:
        if args.action == "start":
            assert config is not None
            state = canary.start(
                log, config, args.candidate, user=user, reason=args.reason, now=now
            )
            print(
                f"canary {state.active} started next to production {state.production}: "
                "the conductor records its decisions, never dispatches them"
            )
        elif args.action == "promote":
            assert config is not None
            state = canary.promote(log, config, user=user, reason=args.reason, now=now)
            print(
                f"promoted: {state.production} is now the production policy "
                "(a running conductor takes it on restart)"
            )
        elif args.action == "rollback":
            before = canary.load_state(log)
            state = canary.rollback(log, user=user, reason=args.reason, now=now)
            print(f"rolled back canary {before.active}; production stays {state.production}")
        else:
            summary = summarize(log)
            if args.report is not None:
                write_report(log, args.report)
                print(f"report: {args.report}", file=sys.stderr if args.json else sys.stdout)
            if args.json:
                print(json.dumps(summary))
            elif summary["candidate"] is None:
                print(f"no canary has run on {args.db}; production: {summary['production']}")
            else:
                for key, value in summary.items():
                    print(f"{key:<22} {value}")
    except UnknownCandidate as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except canary.CanaryError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        log.close()
    return 0

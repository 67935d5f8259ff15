"""``gridaios approvals list|show|approve|reject``: operator sign-off on the event log."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gridaios_data import state_path
from runtime.approvals import book as approvals
from runtime.core.errors import GridaiosError
from runtime.log.eventlog import EventLog

DEFAULT_DB = state_path("events.db")


def register(sub: Any) -> None:
    p = sub.add_parser("approvals", help="list, approve or reject dispatches awaiting sign-off")
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"event log (default {DEFAULT_DB})")
    p.add_argument(
        "--api",
        default=os.environ.get("GRIDAIOS_API"),
        metavar="URL",
        help="talk to a running API instead of the local log (env GRIDAIOS_API)",
    )
    p.add_argument(
        "--token",
        default=os.environ.get("GRIDAIOS_TOKEN"),
        help="API token for --api (env GRIDAIOS_TOKEN; `gridaios users token NAME`)",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser("list", help="dispatches awaiting approval")
    ls.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="one request in full")
    show.add_argument("id")
    for name in ("approve", "reject"):
        a = actions.add_parser(name, help=f"{name} a dispatch")
        a.add_argument("id")
        a.add_argument(
            "--user", default=None, help="operator name (default: $USER; with --api: the token's)"
        )
        a.add_argument("--reason", default="", help="why (required to reject)")
        a.add_argument(
            "--users",
            type=Path,
            default=None,
            help="users store the local operator proves themselves against "
            "(default: users.db next to --db)",
        )
        a.add_argument(
            "--token",
            default=argparse.SUPPRESS,
            help="an API token of --user: proves who approves (locally, or with --api)",
        )
        a.add_argument(
            "--password-stdin",
            action="store_true",
            help="read --user's password from standard input (else a prompt, or --token)",
        )
    actions.choices["approve"].add_argument(
        "--plan-hash",
        default=None,
        help="the plan_hash `show` printed (default: the pending plan's, printed as approved)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.api:
        from runtime.cli.approvals_api import run_api

        return run_api(args)
    if not args.db.exists():
        print(
            f"--db {args.db}: no event log there; pass the path the runtime printed",
            file=sys.stderr,
        )
        return 2
    if args.action in ("approve", "reject"):
        from runtime.cli.local_auth import prove

        proven = prove(args)
        if proven is None:
            return 2
        args.user, args.auth = proven.username, proven.auth
    log = EventLog(args.db)
    try:
        return _run(args, log)
    except GridaiosError as err:
        print(f"gridaios approvals: {err}", file=sys.stderr)
        return 1
    finally:
        log.close()


def _log_now(log: EventLog) -> datetime:
    """The runtime's clock as the log last saw it (a demo runs in scenario time); expiry
    and the grant's timestamp are on that clock, never earlier than its newest event."""
    seq, _ = log.head()
    if seq == 0:
        return datetime.now(UTC)
    newest = next(log.events(after_seq=seq - 1), None)
    return newest.ts if newest is not None else datetime.now(UTC)


def _run(args: argparse.Namespace, log: EventLog) -> int:
    now = _log_now(log)
    if args.action == "list":
        items = approvals.pending(log)
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "id": p.dispatch_id,
                            "requirement": p.requirement.value,
                            "approvers": list(p.approvers),
                            "expires_at": p.expires_at.isoformat(),
                            **{
                                k: p.request.get(k)
                                for k in ("asset", "value", "rationale", "simulation")
                            },
                        }
                        for p in items
                    ]
                )
            )
            return 0
        if not items:
            print("no dispatches awaiting approval")
        for p in items:
            print(
                f"{p.dispatch_id}  {p.request.get('asset')} {p.request.get('value'):g} kW  "
                f"needs {p.requirement.value.replace('_', ' ')} ({len(p.approvers)} so far)  "
                f"expires {p.expires_at:%H:%M:%S}  {p.request.get('rationale', '')}"
            )
        return 0
    if args.action == "show":
        p = approvals.find_pending(log, args.id)
        d = approvals.detail(log, args.id)
        for event in log.events(dispatch_id=args.id):
            print(
                f"{event.seq:>6}  {event.ts:%H:%M:%S}  {event.kind:<20} "
                f"{json.dumps(dict(event.payload))[:160]}"
            )
        print(f"plan: {d['plan']}")
        print(f"plan_hash: {p.plan_hash or '- (older request, not bound to a plan)'}")
        print(f"proposed by: {d['proposed_by'] or '-'}; rollback point: {d['rollback_kw']} kW")
        print(f"if nobody acts: {d['do_nothing']['summary']}")
        print(f"explanation: {d['explanation']}")
        needs = p.requirement.value.replace("_", " ")
        print(f"awaiting {needs}; approvers so far: {', '.join(p.approvers) or '-'}")
        return 0
    if args.action == "approve":
        plan_hash = args.plan_hash
        if plan_hash is None:
            plan_hash = approvals.find_pending(log, args.id).plan_hash
            print(f"{args.id}: approving the pending plan, plan_hash {plan_hash or '-'}")
        approvals.approve(
            log, args.id, args.user, args.reason, now, plan_hash=plan_hash, auth=args.auth
        )
        print(f"{args.id}: approved by {args.user}")
        return 0
    approvals.reject(log, args.id, args.user, args.reason, now)
    print(f"{args.id}: rejected by {args.user}: {args.reason}")
    return 0

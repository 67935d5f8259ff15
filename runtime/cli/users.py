"""``gridaios users add|list|token|unlock``: the API's local users (runtime/api/auth.py)."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_USERS = Path("var/gridaios/users.db")
DEFAULT_DB = Path("var/gridaios/events.db")


def register(sub: Any) -> None:
    p = sub.add_parser("users", help="add users, list them, issue API tokens, unlock accounts")
    stores = argparse.ArgumentParser(add_help=False)
    stores.add_argument(
        "--users", type=Path, default=DEFAULT_USERS, help=f"users store (default {DEFAULT_USERS})"
    )
    stores.add_argument(
        "--db",
        type=Path,
        default=DEFAULT_DB,
        help=f"event log for auth events (default {DEFAULT_DB})",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=[stores], help="add a user (asks for the password)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("viewer", "operator", "engineer", "admin"))
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    actions.add_parser("list", parents=[stores], help="users, roles and lockouts")
    token = actions.add_parser(
        "token", parents=[stores], help="issue an API token for a user (printed once)"
    )
    token.add_argument("name")
    unlock = actions.add_parser(
        "unlock", parents=[stores], help="clear a lockout after failed logins"
    )
    unlock.add_argument("name")
    p.set_defaults(func=run)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    from runtime.api.auth import UserStore
    from runtime.core.errors import GridaiosError
    from runtime.log import events as ev
    from runtime.log.eventlog import EventLog

    now = datetime.now(UTC)
    by = f"cli:{getpass.getuser()}"
    store = UserStore(args.users)
    log = EventLog(args.db) if args.action != "list" else None
    try:
        if args.action == "add":
            try:
                password = _password(args)
            except ValueError as err:
                print(f"gridaios users add: {err}", file=sys.stderr)
                return 2
            user = store.add(args.name, password, args.role, now)
            assert log is not None
            log.append_event(
                ev.AuthUserAdded(username=user.username, role=user.role.value, by=by), ts=now
            )
            print(f"added {user.username} ({user.role.value}) to {args.users}")
        elif args.action == "list":
            users = store.list()
            if not users:
                print(f"no users in {args.users}; add one: gridaios users add NAME --role ROLE")
            for u in users:
                locked = (
                    f"  locked until {u.locked_until:%Y-%m-%d %H:%M:%S} UTC"
                    if (u.locked_until and u.locked_until > now)
                    else ""
                )
                print(f"{u.username:<20} {u.role.value:<9} since {u.created:%Y-%m-%d}{locked}")
        elif args.action == "token":
            issued = store.issue(args.name, "api", now, None)
            assert log is not None
            log.append_event(
                ev.AuthTokenCreated(username=args.name, by=by, token_id=issued.token_id), ts=now
            )
            print(issued.token)
            print(
                "shown once: keep it safe; send it as 'Authorization: Bearer <token>'",
                file=sys.stderr,
            )
        else:
            store.unlock(args.name)
            assert log is not None
            log.append_event(ev.AuthUnlocked(username=args.name, by=by), ts=now)
            print(f"unlocked {args.name}")
        return 0
    except GridaiosError as err:
        print(f"gridaios users {args.action}: {err}", file=sys.stderr)
        return 1
    finally:
        store.close()
        if log is not None:
            log.close()

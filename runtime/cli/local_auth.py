"""A local operator proves who they are before the CLI records a grant or a proposal.

Used by ``gridaios approvals --db ... approve|reject`` and ``gridaios ask --propose``:
``--user NAME`` plus ``--password-stdin`` (or a terminal prompt) or ``--token`` (an API
token of that user), checked against the users store (``--users``, default
``users.db`` next to ``--db``). A refusal is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path

from runtime.approvals.identity import IdentityError, Proven, prove_local


def prove(args: argparse.Namespace) -> Proven | None:
    users: Path = getattr(args, "users", None) or Path(args.db).parent / "users.db"
    user = getattr(args, "user", None)
    token = getattr(args, "token", None)
    if not user and not token:
        print(
            "gridaios: name the operator with --user NAME and prove it with "
            "--password-stdin or --token; nothing recorded",
            file=sys.stderr,
        )
        return None
    password: str | None = None
    if not token:
        if getattr(args, "password_stdin", False):
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = getpass.getpass(f"password for {user}: ")
    try:
        return prove_local(users, user or None, datetime.now(UTC), password=password, token=token)
    except IdentityError as err:
        print(f"gridaios: {err}", file=sys.stderr)
        return None

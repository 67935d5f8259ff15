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

from runtime.api.auth import Locked, LoggedIn, UserStore
from runtime.approvals.identity import OPERATOR_ROLES, IdentityError, Proven, canonical_user


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


def prove_local(
    users_path: Path,
    username: str | None,
    now: datetime,
    *,
    password: str | None,
    token: str | None,
) -> Proven:
    """Check a local operator's password or API token against the users store.

    Raises IdentityError naming what is missing or wrong. A wrong password counts toward
    the account's lockout exactly as a failed API login does.
    """
    if not users_path.is_file():
        raise IdentityError(
            f"--users {users_path}: no users store there; a grant or proposal needs an "
            "authenticated operator (`gridaios users add NAME --role operator`)"
        )
    wanted = canonical_user(username) if username is not None else None
    store = UserStore(users_path)
    try:
        if token:
            who = store.authenticate(token, now)
            if who is None:
                raise IdentityError("--token: unknown, revoked or expired token; nothing recorded")
            if wanted is not None and canonical_user(who.username) != wanted:
                raise IdentityError(
                    f"--token belongs to {who.username}, not {username}; nothing recorded"
                )
            user_name, role, auth = who.username, who.role.value, f"local:{who.kind}-token"
        elif password is not None and wanted is not None:
            outcome = store.login(_stored_name(store, wanted), password, now)
            if isinstance(outcome, Locked):
                raise IdentityError(f"user {username} is locked until {outcome.until:%H:%M}Z")
            if not isinstance(outcome, LoggedIn):
                raise IdentityError(f"user {username}: wrong password or no such user")
            user_name, role, auth = outcome.user.username, outcome.user.role.value, "local:password"
        else:
            raise IdentityError(
                "prove who you are: --password-stdin (or a terminal prompt) or --token"
            )
        disabled = getattr(store, "is_disabled", None)
        if disabled is not None and disabled(user_name):
            raise IdentityError(f"user {user_name} is disabled; nothing recorded")
    finally:
        store.close()
    if role not in OPERATOR_ROLES:
        raise IdentityError(f"user {user_name} has role {role}; signing needs operator or above")
    return Proven(username=canonical_user(user_name), role=role, auth=auth)


def _stored_name(store: object, wanted: str) -> str:
    """The stored spelling of a canonical name (the store keeps the spelling it was given)."""
    assert isinstance(store, UserStore)
    for user in store.list():
        if canonical_user(user.username) == wanted:
            return user.username
    return wanted

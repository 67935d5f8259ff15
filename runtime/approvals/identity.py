"""Who someone is, in one canonical form, and how a local operator proves it.

Names compared by the approval rules (the proposer cannot approve, two *distinct*
operators) are canonical: Unicode NFKC, surrounding whitespace removed, case folded.
``alice``, ``alice `` and ``ALICE`` are one person. A name that is empty or carries
control or inner whitespace characters is refused, never silently repaired.

A local grant (``gridaios approvals --db ... approve``) or a local proposal
(``gridaios ask --propose``) names a user of the users store and proves it with that
user's password (``--password-stdin`` or a prompt) or one of their API tokens
(``--token``); the event records ``auth`` = how (``local:password``,
``local:api-token``, ``api:session``, ``api:api``).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from runtime.core.errors import GridaiosError


class IdentityError(GridaiosError):
    """A name that is not a usable identity, or a credential that does not prove it."""


def canonical_user(name: str) -> str:
    """The one form a person's name is compared and recorded in."""
    text = unicodedata.normalize("NFKC", str(name)).strip()
    if not text:
        raise IdentityError("an operator's name is empty; name a user of the users store")
    for ch in text:
        cat = unicodedata.category(ch)
        if cat.startswith("C") or (cat.startswith("Z") and ch != " ") or ch == " ":
            raise IdentityError(
                f"operator name {name!r}: contains {unicodedata.name(ch, hex(ord(ch)))}; "
                "use the user's name from `gridaios users list`"
            )
    return text.casefold()


def same_user(a: str, b: str) -> bool:
    """True when two recorded names are one person (lenient on names that fail to parse)."""
    return loose_user(a) == loose_user(b)


def loose_user(name: str) -> str:
    try:
        return canonical_user(name)
    except IdentityError:
        return unicodedata.normalize("NFKC", str(name)).strip().casefold()


@dataclass(frozen=True, slots=True, kw_only=True)
class Proven:
    """A user of the users store who proved who they are, and how."""

    username: str  # canonical
    role: str
    auth: str  # local:password | local:api-token | api:session | api:api


OPERATOR_ROLES = ("operator", "engineer", "admin")


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
    from runtime.api.auth import Locked, LoggedIn, UserStore

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
    from runtime.api.auth import UserStore

    assert isinstance(store, UserStore)
    for user in store.list():
        if canonical_user(user.username) == wanted:
            return user.username
    return wanted

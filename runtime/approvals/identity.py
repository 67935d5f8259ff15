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

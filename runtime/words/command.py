"""An understood request -> the operator command the gate evaluates (never sent from here)."""

from __future__ import annotations

from datetime import datetime

from runtime.words.understand import Understood
from safety import Command, CommandKind, Origin


def to_command(u: Understood, *, key: str, now: datetime) -> Command | None:
    """The command of an understood request (``None`` for anything but a command).

    ``u.value`` already carries the verb's sign (``sign.signed_value``); a release of a
    curtailable asset is a 0 % curtailment.
    """
    if not u.is_command or u.end is None:
        return None
    kind = CommandKind.CURTAIL_PCT if u.unit == "%" else CommandKind.ACTIVE_POWER_KW
    return Command(
        key=key,
        asset=u.asset,
        kind=kind,
        value=u.value,
        start=now,
        end=u.end,
        origin=Origin.OPERATOR,
    )

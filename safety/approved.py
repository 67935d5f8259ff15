"""``ApprovedCommand``: the only thing a connector will write to a device.

Only the gate can mint one. The constructor demands a token that exists only
inside a closure; the closure is handed out once, to ``safety.gate`` at import,
and any later claim raises. Copying and pickling are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NoReturn

from safety.types import Command, CommandKind


class ApprovedCommand:
    """A command that passed the gate, with the value the gate allowed."""

    __slots__ = ("_command", "_value")
    _command: Command
    _value: float

    def __init__(self, *, command: Command, value: float, _mint: object) -> None:
        if not _is_token(_mint):
            raise TypeError("ApprovedCommand can only be created by safety.evaluate()")
        object.__setattr__(self, "_command", command)
        object.__setattr__(self, "_value", value)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("ApprovedCommand is immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError("ApprovedCommand cannot be pickled or copied; re-run the gate")

    @property
    def command(self) -> Command:
        return self._command

    @property
    def key(self) -> str:
        return self._command.key

    @property
    def asset(self) -> str:
        return self._command.asset

    @property
    def kind(self) -> CommandKind:
        return self._command.kind

    @property
    def value(self) -> float:
        """The value the gate allowed (the clamped value when clamped)."""
        return self._value

    @property
    def start(self) -> datetime:
        return self._command.start

    @property
    def end(self) -> datetime:
        return self._command.end

    def __repr__(self) -> str:
        return f"ApprovedCommand(key={self.key!r}, asset={self.asset!r}, value={self.value!r})"


def _token_keeper() -> tuple[Callable[[object], bool], Callable[[], _Minter]]:
    token = object()
    claimed = False

    def is_token(candidate: object) -> bool:
        return candidate is token

    def claim() -> _Minter:
        nonlocal claimed
        if claimed:
            raise RuntimeError("the ApprovedCommand minter belongs to safety.gate")
        claimed = True

        new, set_command, set_value = _builders()

        def mint(command: Command, value: float) -> ApprovedCommand:
            # what __init__ does once the token is checked, without the keyword call: the gate
            # mints one per accepted command
            approved = new(ApprovedCommand)
            set_command(approved, command)
            set_value(approved, value)
            return approved

        return mint

    return is_token, claim


def _builders() -> tuple[
    Callable[[type[ApprovedCommand]], ApprovedCommand],
    Callable[[ApprovedCommand, Command], None],
    Callable[[ApprovedCommand, float], None],
]:
    slots = vars(ApprovedCommand)
    return object.__new__, slots["_command"].__set__, slots["_value"].__set__


_Minter = Callable[[Command, float], ApprovedCommand]
_is_token, _claim_minter = _token_keeper()
del _token_keeper

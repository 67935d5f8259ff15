"""``ApprovedCommand``: the only thing a connector will write to a device.

Only the gate can mint one. The constructor demands a private token that
lives in this module and is handed to nothing but ``safety.gate``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, NoReturn

from safety.types import Command, CommandKind

_MINT: Final = object()


class ApprovedCommand:
    """A command that passed the gate, with the value the gate allowed."""

    __slots__ = ("_command", "_value")
    _command: Command
    _value: float

    def __init__(self, *, command: Command, value: float, _mint: object) -> None:
        if _mint is not _MINT:
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


def _mint(command: Command, value: float) -> ApprovedCommand:
    return ApprovedCommand(command=command, value=value, _mint=_MINT)

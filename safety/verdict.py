"""Verdicts: a closed union of Accepted, Clamped and Rejected."""

from __future__ import annotations

from dataclasses import dataclass

from safety.approved import ApprovedCommand
from safety.types import Command, ConstraintHit


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    command: Command
    approved: ApprovedCommand

    @property
    def outcome(self) -> str:
        return "accepted"

    @property
    def hits(self) -> tuple[ConstraintHit, ...]:
        return ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Clamped:
    command: Command
    value: float
    approved: ApprovedCommand
    hits: tuple[ConstraintHit, ...]

    @property
    def outcome(self) -> str:
        return "clamped"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    command: Command
    hits: tuple[ConstraintHit, ...]

    @property
    def outcome(self) -> str:
        return "rejected"


Verdict = Accepted | Clamped | Rejected

"""The deterministic safety envelope every control signal must pass.

Pure: no I/O, no clock, no randomness, and no imports from the rest of gridaios.
"""

from safety.approved import ApprovedCommand
from safety.envelope import AssetLimits, BatteryEnergy, Envelope, Policy, Range
from safety.gate import evaluate
from safety.types import (
    Command,
    CommandKind,
    ConstraintHit,
    Origin,
    Quality,
    Reading,
    StateSnapshot,
)
from safety.verdict import Accepted, Clamped, Rejected, Verdict

__all__ = [
    "Accepted",
    "ApprovedCommand",
    "AssetLimits",
    "BatteryEnergy",
    "Clamped",
    "Command",
    "CommandKind",
    "ConstraintHit",
    "Envelope",
    "Origin",
    "Policy",
    "Quality",
    "Range",
    "Reading",
    "Rejected",
    "StateSnapshot",
    "Verdict",
    "evaluate",
]

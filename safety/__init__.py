"""The deterministic safety envelope every control signal must pass.

Pure: no I/O, no clock, no randomness, and no imports from the rest of gridaios.
"""

from safety.approved import ApprovedCommand
from safety.envelope import (
    CLAMPABLE,
    FAMILIES,
    AssetLimits,
    AssetRole,
    BatteryEnergy,
    Bus,
    Envelope,
    FeederLimit,
    Interlock,
    Policy,
    Ramp,
    Range,
    RateLimit,
    SwitchTiming,
    TimeWindow,
)
from safety.gate import evaluate
from safety.types import (
    Command,
    CommandKind,
    ConstraintHit,
    Dispatch,
    Forecast,
    Origin,
    Quality,
    Reading,
    StateSnapshot,
)
from safety.verdict import Accepted, Clamped, Rejected, Verdict

__all__ = [
    "CLAMPABLE",
    "FAMILIES",
    "Accepted",
    "ApprovedCommand",
    "AssetLimits",
    "AssetRole",
    "BatteryEnergy",
    "Bus",
    "Clamped",
    "Command",
    "CommandKind",
    "ConstraintHit",
    "Dispatch",
    "Envelope",
    "FeederLimit",
    "Forecast",
    "Interlock",
    "Origin",
    "Policy",
    "Quality",
    "Ramp",
    "Range",
    "RateLimit",
    "Reading",
    "Rejected",
    "StateSnapshot",
    "SwitchTiming",
    "TimeWindow",
    "Verdict",
    "evaluate",
]

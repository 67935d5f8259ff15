"""The safety envelope: every constraint as data, built from the site config by the runtime.

Each constraint has an id (``limit.max``, ``ramp``, ``thermal.feeder``...). What
the gate does when one fires is its policy: ``clamp`` or ``reject``, reject by
default. Constraints that no value can satisfy (interlocks, stale state, time
windows...) always reject, whatever the policy says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, time, timedelta, tzinfo
from enum import StrEnum

from safety.types import CommandKind


class Policy(StrEnum):
    """What the gate does when a constraint fires: reject is the default."""

    CLAMP = "clamp"
    REJECT = "reject"


class AssetRole(StrEnum):
    """How an asset's commands move the feeder: storage, load or generation."""

    STORAGE = "storage"
    LOAD = "load"
    GENERATION = "generation"


# Constraint families (the part of an id before the first dot) whose policy may be
# ``clamp``, because a value inside the limit always exists.
CLAMPABLE = frozenset({"limit", "ramp", "soc", "thermal", "voltage"})
# Every constraint family the gate knows, for config validation.
FAMILIES = CLAMPABLE | frozenset(
    {
        "input",
        "asset",
        "allowlist",
        "state",
        "interlock",
        "rate_limit",
        "time_window",
        "min_on_off",
        "plan",
    }
)


def family(constraint: str) -> str:
    return constraint.split(".", 1)[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class Range:
    min_value: float
    max_value: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BatteryEnergy:
    """Energy-aware SoC window for a battery."""

    capacity_kwh: float
    soc_min_pct: float
    soc_max_pct: float
    efficiency: float
    soc_point: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Ramp:
    """Each new setpoint may move at most ``per_min * interval`` from the reference.

    The reference is the previous command for the asset in the plan, else the
    last dispatch in the history, else the measured value of ``point``. The
    device is given ``interval`` to reach a new setpoint.
    """

    per_min: float
    interval: timedelta = timedelta(seconds=60)
    point: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """At most ``max_commands`` commands for the asset start within any ``window``."""

    max_commands: int
    window: timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeWindow:
    """A daily window (site-local time) in which commands of ``kinds`` are forbidden or allowed.

    ``forbid``: a command must not overlap any occurrence. ``allow``: a command
    must lie inside one occurrence. ``start == end`` means the whole day.
    ``days`` are ISO weekdays (1 = Monday); empty means every day.
    """

    id: str
    kinds: frozenset[CommandKind]
    start: time
    end: time
    forbid: bool = True
    days: frozenset[int] = frozenset()
    reason: str = ""
    # hashed once: the gate memoises window checks by window, and a field-wise hash of the
    # frozensets each time cost more than the check it saved
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        key = (self.id, self.kinds, self.start, self.end, self.forbid, self.days, self.reason)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash


@dataclass(frozen=True, slots=True, kw_only=True)
class Interlock:
    """Commands to the asset are refused while ``point`` reads ``active_when``."""

    id: str
    point: str
    active_when: float
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SwitchTiming:
    """Minimum on and off times of a switched load, and the point reporting its state."""

    min_on: timedelta
    min_off: timedelta
    state_point: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetLimits:
    asset: str
    ranges: Mapping[CommandKind, Range]
    role: AssetRole = AssetRole.STORAGE
    required_points: tuple[str, ...] = ()
    power_point: str | None = None
    current_points: Mapping[CommandKind, str] = field(default_factory=dict)
    battery: BatteryEnergy | None = None
    ramps: Mapping[CommandKind, Ramp] = field(default_factory=dict)
    rate_limit: RateLimit | None = None
    time_windows: tuple[TimeWindow, ...] = ()
    interlocks: tuple[Interlock, ...] = ()
    switch: SwitchTiming | None = None
    feeder: str | None = None
    voltage_pu_per_kw: Mapping[str, float] = field(default_factory=dict)
    voltage_pu_per_kvar: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeederLimit:
    """Thermal rating of a feeder head (transformer): |net load| <= rating at every step."""

    id: str
    rating_kw: float
    meter_point: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Bus:
    """A bus whose voltage must stay in band (ANSI C84.1 Range A by default).

    The base voltage is the measured ``point``, or ``assumed_pu`` when the site
    has no measurement there (declared explicitly in config).
    """

    id: str
    point: str | None = None
    assumed_pu: float | None = None
    min_pu: float = 0.95
    max_pu: float = 1.05


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    assets: Mapping[str, AssetLimits]
    feeders: Mapping[str, FeederLimit] = field(default_factory=dict)
    buses: Mapping[str, Bus] = field(default_factory=dict)
    max_age: timedelta = timedelta(seconds=60)
    point_max_age: Mapping[str, timedelta] = field(default_factory=dict)
    point_units: Mapping[str, str] = field(default_factory=dict)
    max_duration: timedelta = timedelta(hours=24)
    timezone: tzinfo = UTC
    policies: Mapping[str, Policy] = field(default_factory=dict)
    # Plausibility: the range a point's reading can physically have (SoC 0-100 %, power
    # within the rating x a margin, voltage 0-2 pu); a reading outside it rejects.
    plausible: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    max_lead: timedelta = timedelta(hours=24)  # how far ahead a command may start
    max_key_len: int = 200  # characters of an idempotency key
    max_plan_commands: int = 5000  # commands in one plan
    # Memo of values derived from the (immutable) envelope, e.g. the points each
    # asset's checks read; filled by the gate on first use, never part of equality.
    derived: dict[object, object] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def policy(self, constraint: str) -> Policy:
        """Exact id first (``thermal.feeder``), then its family (``thermal``); reject by default."""
        exact = self.policies.get(constraint)
        if exact is not None:
            return exact
        return self.policies.get(family(constraint), Policy.REJECT)

    def max_age_of(self, point: str) -> timedelta:
        return self.point_max_age.get(point, self.max_age)

"""External demand-response events (OpenADR-style JSON) and the agent that honours them.

An event arrives as bytes, over MQTT (``gridaios/v1/<site>/dr/event``) or the API
(``POST /api/dr/events``); ``accept_dr_event`` is the one pure entry point for both. A payload is
either an event (pydantic, extra keys refused) or a rejection with a reason that
names the field and the fix; the shell counts rejections and keeps the raw bytes
in the event log. During an event window ``DrAgent`` discharges the battery to
meet the event's feeder-import target, or a share of its rating per signal level
(OpenADR SIMPLE levels: 1 moderate = 1/3, 2 high = 2/3, 3 special = full).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from runtime.agents.base import Decision, Perception
from runtime.config.model import SiteConfig
from runtime.config.site import point_id
from runtime.decide.policy import Proposal, command_key
from safety import Command, CommandKind, Origin

log = logging.getLogger(__name__)

MAX_RAW_BYTES = 64 * 1024
MAX_DURATION = timedelta(hours=24)
LEVEL_SHARE = {0: 0.0, 1: 1 / 3, 2: 2 / 3, 3: 1.0}


class DrEvent(BaseModel):
    """One DR event: a feeder-import target in kW or a signal level, for a time window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    signal_level: int | None = Field(default=None, ge=0, le=3)
    target_kw: float | None = Field(default=None, ge=0)
    start: AwareDatetime
    end: AwareDatetime
    targets: list[str] = Field(default_factory=lambda: ["*"], min_length=1)

    @model_validator(mode="after")
    def _shape(self) -> DrEvent:
        if (self.signal_level is None) == (self.target_kw is None):
            raise ValueError("give exactly one of signal_level (0-3) or target_kw")
        if self.end <= self.start:
            raise ValueError(f"end {self.end.isoformat()} must be after start")
        if self.end - self.start > MAX_DURATION:
            raise ValueError("an event lasts at most 24 h; split longer programmes")
        return self

    def applies_to(self, asset: str) -> bool:
        return "*" in self.targets or asset in self.targets

    def active(self, now: datetime) -> bool:
        return self.start <= now < self.end


@dataclass(frozen=True, slots=True, kw_only=True)
class DrAccepted:
    event: DrEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class DrRejected:
    reason: str
    raw: bytes


def accept_dr_event(
    raw: bytes, now: datetime, *, assets: frozenset[str] | None = None
) -> DrAccepted | DrRejected:
    """Parse and check one payload. Pure; never raises on bad input."""
    if len(raw) > MAX_RAW_BYTES:
        return DrRejected(reason=f"payload is {len(raw)} bytes; at most {MAX_RAW_BYTES}", raw=raw)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        return DrRejected(reason=f"not JSON ({err}); send one JSON object", raw=raw)
    if not isinstance(data, dict):
        return DrRejected(reason="not a JSON object; send {event_id, start, end, ...}", raw=raw)
    try:
        event = DrEvent.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(event)"
        msg = str(first["msg"]).removeprefix("Value error, ")
        return DrRejected(reason=f"dr event {where}: {msg}", raw=raw)
    if event.end <= now:
        return DrRejected(
            reason=f"dr event {event.event_id}: already ended at {event.end.isoformat()}", raw=raw
        )
    if assets is not None:
        unknown = [t for t in event.targets if t != "*" and t not in assets]
        if unknown:
            return DrRejected(
                reason=f"dr event {event.event_id}: targets {', '.join(unknown)} are not "
                f"assets of this site (known: {', '.join(sorted(assets))})",
                raw=raw,
            )
    return DrAccepted(event=event)


class DrInbox:
    """Raw payloads from any thread (the MQTT callback); drained by the conductor's loop."""

    def __init__(self, max_pending: int = 1000) -> None:
        self._pending: deque[tuple[bytes, str]] = deque(maxlen=max_pending)
        self._lock = threading.Lock()

    def put(self, raw: bytes, via: str) -> None:
        with self._lock:
            self._pending.append((raw, via))

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def drain(self) -> list[tuple[bytes, str]]:
        with self._lock:
            out = list(self._pending)
            self._pending.clear()
        return out


class DrAgent:
    """Honours active DR events on the battery: target kW at the feeder, or a signal level."""

    name = "dr_events"

    def decide(self, perception: Perception, config: SiteConfig, now: datetime) -> Decision:
        battery_id = config.agents.dr_events.battery or config.policy.peak_shaving.battery
        battery = config.battery(battery_id)
        active = [e for e in perception.dr_events if e.active(now) and e.applies_to(battery_id)]
        if not active:
            return Decision(rationale="no DR event active")
        meter = perception.snapshot.get(point_id(config.feeder.meter, "p_kw"))
        out = perception.snapshot.get(point_id(battery_id, "p_kw"))
        if meter is None or out is None:
            return Decision(confidence=0.0, rationale="DR event active but no meter reading")
        uncontrolled_kw = meter.value + out.value
        wants: list[tuple[float, str]] = []
        for e in active:
            if e.target_kw is not None:
                kw = max(0.0, uncontrolled_kw - e.target_kw)
                wants.append((kw, f"DR {e.event_id}: feeder import to {e.target_kw:.0f} kW"))
            elif e.signal_level is not None:
                kw = LEVEL_SHARE[e.signal_level] * battery.max_discharge_kw
                wants.append((kw, f"DR {e.event_id}: signal level {e.signal_level}"))
        target_kw, why = max(wants)
        target_kw = float(round(min(target_kw, battery.max_discharge_kw)))
        last = perception.setpoints.get(battery_id, 0.0)
        deadband = config.policy.peak_shaving.deadband_kw
        if abs(target_kw - last) <= deadband:
            return Decision(rationale=f"{why}: already at {last:.0f} kW")
        end = min(
            *(e.end for e in active),
            now + timedelta(seconds=config.policy.peak_shaving.command_duration_s),
        )
        rationale = f"{why}: discharge {target_kw:.0f} kW until {end.isoformat()}"
        command = Command(
            key=command_key(config.site.id, battery_id, now),
            asset=battery_id,
            kind=CommandKind.ACTIVE_POWER_KW,
            value=target_kw,
            start=now,
            end=end,
            origin=Origin.DR_EVENT,
        )
        proposal = Proposal(
            command=command,
            policy="dr_event",
            rationale=rationale,
            inputs={"uncontrolled_kw": uncontrolled_kw, "target_kw": target_kw},
        )
        return Decision(proposals=(proposal,), rationale=rationale)

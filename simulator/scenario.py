"""Scenarios: time-of-day profiles per asset, read from YAML under configs/scenarios/."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

import numpy as np
import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the field."""


class EventKind(StrEnum):
    COMMS_LOSS = "comms_loss"  # the link to the field is down: no telemetry, no commands
    DEVICE_OFFLINE = "device_offline"  # a device stops: output to 0, bad quality, no commands
    FROZEN_TELEMETRY = "frozen_telemetry"  # values stop changing, timestamps keep coming
    LINE_TRIP = "line_trip"  # a branch opens (protection); needs the field's network


class ScenarioEvent(BaseModel):
    """One scripted fault: from ``at`` (HH:MM on the scenario's day) for ``duration_s``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: str
    kind: EventKind
    duration_s: float = Field(gt=0)
    element: str = ""  # the device or branch; empty for comms_loss (the whole link)
    note: str = ""

    @field_validator("at")
    @classmethod
    def _at_parses(cls, value: str) -> str:
        _minutes(value, "event")
        return value


class CommsSpec(BaseModel):
    """The link between the field and the runtime, both directions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: float = Field(default=0.0, ge=0, le=60_000)
    jitter_ms: float = Field(default=0.0, ge=0, le=60_000)
    loss_pct: float = Field(default=0.0, ge=0, le=100)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    start: AwareDatetime
    duration_s: float = Field(gt=0)
    step_s: float = Field(default=10.0, gt=0)
    seed: int = 0
    noise_pct: float = Field(default=0.0, ge=0, le=50)
    profiles: dict[str, list[tuple[str, float]]] = Field(
        description="asset id (or 'base_load') -> [[HH:MM, kW], ...], linearly interpolated"
    )
    comms: CommsSpec = Field(default_factory=CommsSpec)
    events: tuple[ScenarioEvent, ...] = ()
    response_delay_s: float = Field(
        default=0.0, ge=0, le=600, description="inverter response delay after a new setpoint"
    )

    @field_validator("profiles")
    @classmethod
    def _times_parse(
        cls, value: dict[str, list[tuple[str, float]]]
    ) -> dict[str, list[tuple[str, float]]]:
        for name, points in value.items():
            if len(points) < 1:
                raise ValueError(f"profile {name!r} needs at least one [HH:MM, kW] point")
            minutes = [_minutes(hhmm, name) for hhmm, _ in points]
            if minutes != sorted(minutes):
                raise ValueError(f"profile {name!r}: times must increase")
        return value

    @model_validator(mode="after")
    def _events_inside(self) -> Scenario:
        for i, event in enumerate(self.events):
            offset = self.event_offset_s(event)
            if not 0 <= offset < self.duration_s:
                raise ValueError(
                    f"events[{i}].at = {event.at!r} is outside the scenario "
                    f"({self.start:%H:%M} for {self.duration_s:g} s)"
                )
            if event.kind is not EventKind.COMMS_LOSS and not event.element:
                raise ValueError(f"events[{i}] ({event.kind.value}) needs an element")
        return self

    def event_offset_s(self, event: ScenarioEvent) -> float:
        """Seconds from the scenario start to the event (same day, or the next one)."""
        start_min = self.start.hour * 60 + self.start.minute + self.start.second / 60
        delta_min = (_minutes(event.at, "event") - start_min) % 1440
        return delta_min * 60.0

    def active(self, kind: EventKind, element: str, elapsed_s: float) -> bool:
        """Whether an event of ``kind`` on ``element`` is in force ``elapsed_s`` into the run."""
        for event in self.events:
            if event.kind is kind and event.element == element:
                t0 = self.event_offset_s(event)
                if t0 <= elapsed_s < t0 + event.duration_s:
                    return True
        return False

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration_s)

    def n_steps(self) -> int:
        return int(self.duration_s // self.step_s) + 1

    def times(self) -> list[datetime]:
        return [self.start + timedelta(seconds=i * self.step_s) for i in range(self.n_steps())]

    def profile_kw(self, name: str) -> np.ndarray:
        """Profile of one asset at every step, with seeded multiplicative noise."""
        points = self.profiles.get(name)
        n = self.n_steps()
        if points is None:
            return np.zeros(n)
        xs = np.array([_minutes(hhmm, name) for hhmm, _ in points], dtype=float)
        ys = np.array([kw for _, kw in points], dtype=float)
        start_min = self.start.hour * 60 + self.start.minute + self.start.second / 60
        t_min = start_min + np.arange(n) * self.step_s / 60.0
        values = np.interp(t_min, xs, ys)
        if self.noise_pct > 0:
            rng = np.random.default_rng([self.seed, _stable_hash(name)])
            values = values * (1.0 + rng.normal(0.0, self.noise_pct / 100.0, n))
        clipped: np.ndarray = np.maximum(values, 0.0)
        return clipped

    def sample_kw(self, name: str, start: datetime, step: timedelta, steps: int) -> np.ndarray:
        """A profile sampled at any time grid (time of day, wrapping at midnight), no noise."""
        points = self.profiles.get(name)
        if points is None:
            return np.zeros(steps)
        xs = np.array([_minutes(hhmm, name) for hhmm, _ in points], dtype=float)
        ys = np.array([kw for _, kw in points], dtype=float)
        t0 = start.hour * 60 + start.minute + start.second / 60
        t_min = (t0 + np.arange(steps) * step.total_seconds() / 60.0) % 1440.0
        out: np.ndarray = np.maximum(np.interp(t_min, xs, ys), 0.0)
        return out

    def step_index(self, when: datetime) -> int:
        i = int((when - self.start).total_seconds() // self.step_s)
        return min(max(i, 0), self.n_steps() - 1)


def _minutes(hhmm: str, name: str) -> float:
    try:
        hours, minutes = hhmm.split(":")
        return int(hours) * 60 + int(minutes)
    except ValueError as err:
        raise ValueError(f"profile {name!r}: time {hhmm!r} is not HH:MM") from err


def _stable_hash(name: str) -> int:
    return sum((i + 1) * ord(c) for i, c in enumerate(name))


def load_scenario(name_or_path: str, search_dir: Path | None = None) -> Scenario:
    """Load a scenario by file path or by name from ``configs/scenarios``."""
    path = Path(name_or_path)
    if not path.suffix and search_dir is not None:
        path = search_dir / f"{name_or_path}.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        known = sorted(p.stem for p in search_dir.glob("*.yaml")) if search_dir else []
        hint = f"; known scenarios: {', '.join(known)}" if known else ""
        raise ScenarioError(f"scenario {name_or_path!r}: cannot read {path}{hint}") from err
    try:
        return Scenario.model_validate(raw)
    except ValueError as err:
        raise ScenarioError(f"{path}: {err}") from err

"""What the gate knows about one asset while it walks a plan: references that earlier commands move.

Model: a command applies during ``[start, end)``; outside its commands an asset
keeps its present output (the measured value). Accepted commands in the plan
advance the track; rejected ones leave it as it was.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from safety.envelope import AssetLimits, BatteryEnergy
from safety.types import Command, CommandKind, Dispatch, StateSnapshot


@dataclass(slots=True, kw_only=True)
class Track:
    asset: str
    history: Sequence[Dispatch]
    last_value: dict[CommandKind, float] = field(default_factory=dict)
    starts: list[datetime] = field(default_factory=list)  # kept sorted
    switch_on: bool | None = None
    switch_changed_at: datetime | None = None
    soc_pct: float | None = None
    soc_at: datetime | None = None
    held_kw: float = 0.0

    def accept(self, command: Command, value: float, battery: BatteryEnergy | None) -> None:
        self.last_value[command.kind] = value
        insort(self.starts, command.start)
        if command.kind is CommandKind.SWITCH:
            on = value >= 0.5
            if self.switch_on is not on:
                self.switch_changed_at = command.start
            self.switch_on = on
        if battery is not None and command.kind is CommandKind.ACTIVE_POWER_KW:
            start_soc = self.soc_at_time(command.start, battery)
            if start_soc is not None:
                hours = (command.end - command.start).total_seconds() / 3600.0
                self.soc_pct = project_soc(start_soc, value, hours, battery)
                self.soc_at = command.end

    def soc_at_time(self, t: datetime, battery: BatteryEnergy) -> float | None:
        """SoC at ``t``, drifting at the present output from the last known point."""
        if self.soc_pct is None or self.soc_at is None:
            return None
        if t <= self.soc_at:
            return self.soc_pct
        hours = (t - self.soc_at).total_seconds() / 3600.0
        return project_soc(self.soc_pct, self.held_kw, hours, battery)


def project_soc(soc_pct: float, power_kw: float, hours: float, battery: BatteryEnergy) -> float:
    """SoC after ``hours`` at ``power_kw`` (> 0 discharge); losses on both directions."""
    if power_kw >= 0:
        energy_kwh = power_kw * hours / battery.efficiency
        return soc_pct - 100.0 * energy_kwh / battery.capacity_kwh
    energy_kwh = -power_kw * hours * battery.efficiency
    return soc_pct + 100.0 * energy_kwh / battery.capacity_kwh


def new_track(
    limits: AssetLimits, history: Sequence[Dispatch], state: StateSnapshot, now: datetime
) -> Track:
    """A fresh track from the dispatch history (sorted by ``at``) and measured state."""
    track = Track(asset=limits.asset, history=history)
    for dispatch in history:
        insort(track.starts, dispatch.at)
        if dispatch.kind is CommandKind.SWITCH:
            on = dispatch.value >= 0.5
            if track.switch_on is not on:
                track.switch_changed_at = dispatch.at
            track.switch_on = on
    if limits.switch is not None and limits.switch.state_point is not None:
        reading = state.readings.get(limits.switch.state_point)
        if reading is not None:
            measured_on = reading.value >= 0.5
            if track.switch_on is not measured_on:
                # The device says otherwise than our record: trust it, change time unknown.
                track.switch_on = measured_on
                track.switch_changed_at = None
    power = state.readings.get(limits.power_point) if limits.power_point else None
    if power is not None:
        track.held_kw = power.value
    if limits.battery is not None:
        soc = state.readings.get(limits.battery.soc_point)
        if soc is not None:
            track.soc_pct = soc.value
            track.soc_at = now
    return track


def history_value(history: Sequence[Dispatch], kind: CommandKind) -> float | None:
    for dispatch in reversed(history):
        if dispatch.kind is kind:
            return dispatch.value
    return None

"""Peak shaving, the skeleton's rule policy: pure, ``propose(snapshot, config, now)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from runtime.config.model import PeakShavingConfig
from runtime.config.site import point_id
from safety import Command, CommandKind, Origin, StateSnapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    command: Command
    policy: str
    rationale: str
    inputs: dict[str, float] = field(default_factory=dict)
    proposer: str = ""  # who asked: an operator's user name for operator intents
    escalated: bool = False  # repeated rejections: an operator signs off whatever the size


def command_key(site_id: str, asset: str, now: datetime) -> str:
    """Idempotency key: one per asset per decision instant, stable across replays."""
    return f"{site_id}-{asset}-{now:%Y%m%dT%H%M%SZ}"


def peak_shaving(
    snapshot: StateSnapshot,
    config: PeakShavingConfig,
    *,
    site_id: str,
    meter: str,
    max_discharge_kw: float,
    last_setpoint_kw: float,
    now: datetime,
) -> list[Proposal]:
    """Discharge the battery by what the uncontrolled load exceeds the threshold."""
    meter_reading = snapshot.get(point_id(meter, "p_kw"))
    battery_reading = snapshot.get(point_id(config.battery, "p_kw"))
    if meter_reading is None or battery_reading is None:
        return []  # cannot perceive: propose nothing; the setpoint stays where it is
    uncontrolled_kw = meter_reading.value + battery_reading.value
    target_kw = round(max(0.0, uncontrolled_kw - config.threshold_kw))
    if abs(target_kw - last_setpoint_kw) <= config.deadband_kw:
        return []
    if target_kw > 0:
        rationale = (
            f"feeder load {uncontrolled_kw:.0f} kW without storage is above the "
            f"{config.threshold_kw:.0f} kW threshold: discharge {target_kw:.0f} kW"
        )
    else:
        rationale = (
            f"feeder load {uncontrolled_kw:.0f} kW is below the {config.threshold_kw:.0f} kW "
            "threshold: stop discharging"
        )
    command = Command(
        key=command_key(site_id, config.battery, now),
        asset=config.battery,
        kind=CommandKind.ACTIVE_POWER_KW,
        value=float(min(target_kw, max_discharge_kw * 2)),  # the gate owns the real limit
        start=now,
        end=now + timedelta(seconds=config.command_duration_s),
        origin=Origin.AGENT,
    )
    return [
        Proposal(
            command=command,
            policy="peak_shaving",
            rationale=rationale,
            inputs={
                "meter_p_kw": meter_reading.value,
                "battery_p_kw": battery_reading.value,
                "uncontrolled_kw": uncontrolled_kw,
                "threshold_kw": config.threshold_kw,
            },
        )
    ]

"""The gate: ``evaluate(commands, state, envelope, now) -> verdicts``.

Pure and deterministic: no I/O, no clock, no randomness. It fails closed:
missing, stale or bad-quality state rejects the command.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from safety.approved import _mint
from safety.envelope import AssetLimits, Envelope, Policy
from safety.types import Command, ConstraintHit, Quality, StateSnapshot, is_finite
from safety.verdict import Accepted, Clamped, Rejected, Verdict


def evaluate(
    commands: Sequence[Command],
    state: StateSnapshot,
    envelope: Envelope,
    now: datetime,
) -> list[Verdict]:
    """One verdict per command, in the order given."""
    seen: dict[str, int] = {}
    for command in commands:
        seen[command.key] = seen.get(command.key, 0) + 1
    return [_evaluate_one(c, state, envelope, now, duplicate=seen[c.key] > 1) for c in commands]


def _evaluate_one(
    command: Command,
    state: StateSnapshot,
    envelope: Envelope,
    now: datetime,
    *,
    duplicate: bool,
) -> Verdict:
    hard = _input_errors(command, envelope, duplicate)
    if hard:
        return Rejected(command=command, hits=tuple(hard))
    limits = envelope.assets[command.asset]
    stale = _state_errors(limits, state, envelope, now)
    if stale:
        return Rejected(command=command, hits=tuple(stale))

    value = command.value
    hits: list[ConstraintHit] = []
    rejecting: list[ConstraintHit] = []
    for check in (_range_check, _soc_check):
        result = check(command, value, limits, state)
        if result is None:
            continue
        hit, allowed = result
        hits.append(hit)
        if envelope.policy(hit.constraint) is Policy.CLAMP and allowed is not None:
            value = allowed
        else:
            rejecting.append(hit)
    if rejecting:
        return Rejected(command=command, hits=tuple(hits))
    if hits:
        return Clamped(
            command=command, value=value, approved=_mint(command, value), hits=tuple(hits)
        )
    return Accepted(command=command, approved=_mint(command, value))


def _input_errors(command: Command, envelope: Envelope, duplicate: bool) -> list[ConstraintHit]:
    errors: list[ConstraintHit] = []
    if not is_finite(command.value):
        errors.append(
            ConstraintHit(
                constraint="input.value",
                reason=f"value {command.value!r} is not a finite number",
            )
        )
    if command.start.tzinfo is None or command.end.tzinfo is None:
        errors.append(ConstraintHit(constraint="input.time", reason="start/end must be UTC-aware"))
    elif command.end <= command.start:
        errors.append(
            ConstraintHit(
                constraint="input.time",
                reason=(
                    f"end {command.end.isoformat()} is not after start {command.start.isoformat()}"
                ),
            )
        )
    if duplicate:
        errors.append(
            ConstraintHit(
                constraint="input.duplicate_key",
                reason=f"idempotency key {command.key!r} appears more than once in the plan",
            )
        )
    limits = envelope.assets.get(command.asset)
    if limits is None:
        errors.append(
            ConstraintHit(
                constraint="asset.unknown",
                reason=f"asset {command.asset!r} is not in the envelope",
            )
        )
    elif command.kind not in limits.ranges:
        errors.append(
            ConstraintHit(
                constraint="asset.not_writable",
                reason=f"{command.asset} does not accept {command.kind.value} commands",
            )
        )
    return errors


def _state_errors(
    limits: AssetLimits, state: StateSnapshot, envelope: Envelope, now: datetime
) -> list[ConstraintHit]:
    errors: list[ConstraintHit] = []
    for point in limits.required_points:
        reading = state.get(point)
        if reading is None:
            errors.append(ConstraintHit(constraint="state.missing", reason=f"no value for {point}"))
            continue
        if reading.quality is not Quality.GOOD:
            errors.append(
                ConstraintHit(
                    constraint="state.quality",
                    reason=f"{point} quality is {reading.quality.value}, needs good",
                )
            )
        age_s = (now - reading.ts).total_seconds()
        max_age_s = envelope.max_age.total_seconds()
        if age_s > max_age_s:
            errors.append(
                ConstraintHit(
                    constraint="state.stale",
                    reason=f"{point} is {age_s:.0f} s old, max age {max_age_s:.0f} s",
                    limit=max_age_s,
                    observed=age_s,
                )
            )
        if not is_finite(reading.value):
            errors.append(
                ConstraintHit(constraint="state.value", reason=f"{point} is {reading.value!r}")
            )
    return errors


def _range_check(
    command: Command, value: float, limits: AssetLimits, state: StateSnapshot
) -> tuple[ConstraintHit, float | None] | None:
    rng = limits.ranges[command.kind]
    unit = command.kind.value.rsplit("_", 1)[-1]
    if value > rng.max_value:
        hit = ConstraintHit(
            constraint="limit.max",
            reason=f"{command.asset} {value:g} {unit} above max {rng.max_value:g} {unit}",
            limit=rng.max_value,
            observed=value,
        )
        return hit, rng.max_value
    if value < rng.min_value:
        hit = ConstraintHit(
            constraint="limit.min",
            reason=f"{command.asset} {value:g} {unit} below min {rng.min_value:g} {unit}",
            limit=rng.min_value,
            observed=value,
        )
        return hit, rng.min_value
    return None


def _soc_check(
    command: Command, value: float, limits: AssetLimits, state: StateSnapshot
) -> tuple[ConstraintHit, float | None] | None:
    battery = limits.battery
    if battery is None or command.kind.value != "active_power_kw":
        return None
    reading = state.get(battery.soc_point)
    if reading is None:  # required_points already failed closed on this
        return None
    hours = (command.end - command.start).total_seconds() / 3600.0
    soc_pct = reading.value
    if value >= 0:  # discharge draws more from the cells than it delivers
        energy_kwh = value * hours / battery.efficiency
        soc_end = soc_pct - 100.0 * energy_kwh / battery.capacity_kwh
        if soc_end < battery.soc_min_pct - 1e-9:
            room_kwh = max(0.0, (soc_pct - battery.soc_min_pct) / 100.0 * battery.capacity_kwh)
            allowed = room_kwh * battery.efficiency / hours
            return (
                ConstraintHit(
                    constraint="soc.window",
                    reason=(
                        f"{command.asset} discharging {value:g} kW for {hours * 60:.0f} min "
                        f"ends at SoC {soc_end:.1f}%, below min {battery.soc_min_pct:g}%"
                    ),
                    limit=battery.soc_min_pct,
                    observed=soc_end,
                ),
                allowed,
            )
    else:
        energy_kwh = -value * hours * battery.efficiency
        soc_end = soc_pct + 100.0 * energy_kwh / battery.capacity_kwh
        if soc_end > battery.soc_max_pct + 1e-9:
            room_kwh = max(0.0, (battery.soc_max_pct - soc_pct) / 100.0 * battery.capacity_kwh)
            allowed = -room_kwh / battery.efficiency / hours
            return (
                ConstraintHit(
                    constraint="soc.window",
                    reason=(
                        f"{command.asset} charging {-value:g} kW for {hours * 60:.0f} min "
                        f"ends at SoC {soc_end:.1f}%, above max {battery.soc_max_pct:g}%"
                    ),
                    limit=battery.soc_max_pct,
                    observed=soc_end,
                ),
                allowed,
            )
    return None

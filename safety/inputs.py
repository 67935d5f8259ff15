"""Bad-input checks: malformed commands are rejected with a reason, before any limit is read."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from safety.envelope import Envelope
from safety.types import Command, CommandKind, ConstraintHit, Origin, is_finite


def is_utc_aware(value: object) -> bool:
    if type(value) is datetime and value.tzinfo is UTC:
        return True
    return isinstance(value, datetime) and value.utcoffset() is not None


def input_errors(
    command: Command, envelope: Envelope, now: datetime, *, duplicate: bool
) -> list[ConstraintHit]:
    """Everything wrong with the command itself; an empty list means it is well formed."""
    if not duplicate and _well_formed(command, envelope, now):
        return []
    errors: list[ConstraintHit] = []
    if not isinstance(command, Command):
        return [_hit("input.type", f"{type(command).__name__} is not a Command")]
    if not isinstance(command.key, str) or not command.key:
        errors.append(_hit("input.key", f"idempotency key {command.key!r} must be a non-empty str"))
    elif len(command.key) > envelope.max_key_len:
        errors.append(
            _hit(
                "input.key",
                f"idempotency key of {len(command.key)} characters ({command.key[:16]!r}...): "
                f"at most {envelope.max_key_len}",
                limit=float(envelope.max_key_len),
                observed=float(len(command.key)),
            )
        )
    if duplicate:
        errors.append(
            _hit(
                "input.duplicate_key",
                f"idempotency key {command.key!r} appears more than once in the plan",
            )
        )
    if not isinstance(command.kind, CommandKind):
        errors.append(_hit("input.kind", f"kind {command.kind!r} is not one of {_kinds()}"))
    if not isinstance(command.origin, Origin):
        errors.append(_hit("input.origin", f"origin {command.origin!r} is not a known origin"))
    if not is_finite(command.value):
        shown = repr(command.value)[:40]
        errors.append(_hit("input.value", f"value {shown} is not a finite number"))
    elif command.kind is CommandKind.SWITCH and command.value not in (0, 1):
        errors.append(_hit("input.value", f"switch value {command.value!r} must be 0 or 1"))
    if (
        isinstance(command.kind, CommandKind)
        and command.unit is not None
        and command.unit != command.kind.unit
    ):
        errors.append(
            _hit(
                "input.unit",
                f"unit {command.unit!r} does not match {command.kind.value}, "
                f"which is in {command.kind.unit}",
            )
        )
    errors.extend(_time_errors(command, envelope, now))
    errors.extend(_asset_errors(command, envelope))
    return errors


def _well_formed(command: Command, envelope: Envelope, now: datetime) -> bool:
    """The common case in one pass; anything unusual goes through the detailed checks."""
    if type(command) is not Command:
        return False
    value, kind, start, end = command.value, command.kind, command.start, command.end
    limits = envelope.assets.get(command.asset) if type(command.asset) is str else None
    return (
        limits is not None
        and type(command.key) is str
        and command.key != ""
        and len(command.key) <= envelope.max_key_len
        and type(kind) is CommandKind
        and kind in limits.ranges
        and kind is not CommandKind.SWITCH
        and type(command.origin) is Origin
        and type(value) is float
        and math.isfinite(value)
        and command.unit is None
        and type(start) is datetime
        and type(end) is datetime
        and (start.tzinfo is UTC or start.utcoffset() is not None)  # UTC: no call needed
        and (end.tzinfo is UTC or end.utcoffset() is not None)
        and now < end
        and start < end
        and end - start <= envelope.max_duration
        and start - now <= envelope.max_lead
    )


def _time_errors(command: Command, envelope: Envelope, now: datetime) -> list[ConstraintHit]:
    if not is_utc_aware(command.start) or not is_utc_aware(command.end):
        return [_hit("input.time", "start and end must be timezone-aware datetimes")]
    if command.end <= command.start:
        return [
            _hit(
                "input.time",
                f"end {command.end.isoformat()} is not after start {command.start.isoformat()}",
            )
        ]
    errors: list[ConstraintHit] = []
    if command.end <= now:
        errors.append(
            _hit(
                "input.expired", f"end {command.end.isoformat()} is not after now {now.isoformat()}"
            )
        )
    lead_s = (command.start - now).total_seconds()
    max_lead_s = envelope.max_lead.total_seconds()
    if lead_s > max_lead_s:
        errors.append(
            _hit(
                "input.lead_time",
                f"starts {lead_s:g} s from now, later than the {max_lead_s:g} s ahead a command "
                "may be decided against today's state",
                limit=max_lead_s,
                observed=lead_s,
            )
        )
    duration_s = (command.end - command.start).total_seconds()
    max_s = envelope.max_duration.total_seconds()
    if duration_s > max_s:
        errors.append(
            _hit(
                "input.duration",
                f"lasts {duration_s:g} s, longer than the {max_s:g} s a command may last",
                limit=max_s,
                observed=duration_s,
            )
        )
    return errors


def _asset_errors(command: Command, envelope: Envelope) -> list[ConstraintHit]:
    if not isinstance(command.asset, str):
        return [_hit("asset.unknown", f"asset {command.asset!r} is not a str")]
    limits = envelope.assets.get(command.asset)
    if limits is None:
        known = ", ".join(sorted(envelope.assets)) or "none"
        return [
            _hit("asset.unknown", f"asset {command.asset!r} is not in the envelope; known: {known}")
        ]
    if isinstance(command.kind, CommandKind) and command.kind not in limits.ranges:
        writable = ", ".join(sorted(k.value for k in limits.ranges)) or "nothing"
        return [
            _hit(
                "allowlist",
                f"{command.asset} has no writable point for {command.kind.value}; "
                f"it accepts: {writable}",
            )
        ]
    return []


def duplicate_keys(commands: Iterable[Command]) -> set[str]:
    seen: set[str] = set()
    dupes: set[str] = set()
    for command in commands:
        key = getattr(command, "key", None)
        if not isinstance(key, str):
            continue
        if key in seen:
            dupes.add(key)
        seen.add(key)
    return dupes


def overlaps(ordered: Sequence[Command]) -> dict[int, ConstraintHit]:
    """Commands (canonical order) for the same asset and kind must not overlap in time.

    Returns ``{index: hit}`` for each later command that starts before an
    earlier one ends: which setpoint applies would otherwise be ambiguous.
    """
    last: dict[tuple[str, CommandKind], Command] = {}
    out: dict[int, ConstraintHit] = {}
    for i, command in enumerate(ordered):
        slot = (command.asset, command.kind)
        previous = last.get(slot)
        if previous is not None and command.start < previous.end:
            out[i] = _hit(
                "plan.overlap",
                f"starts {command.start.isoformat()} before {previous.key!r} for the same "
                f"asset and kind ends ({previous.end.isoformat()})",
            )
            continue
        last[slot] = command
    return out


def _kinds() -> str:
    return ", ".join(k.value for k in CommandKind)


def _hit(
    constraint: str, reason: str, *, limit: float | None = None, observed: float | None = None
) -> ConstraintHit:
    return ConstraintHit(constraint=constraint, reason=reason, limit=limit, observed=observed)

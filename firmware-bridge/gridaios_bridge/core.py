"""The bridge's decisions: fail-safe, command acceptance, local limits, ramp. Pure.

Every function takes the state and ``now`` (monotonic seconds for intervals, UTC for
``valid_until``) and returns a new state plus what to do; the shell (bridge.py) does
the I/O. Nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from gridaios_wire.jsonv1 import AckStatus, Command

from gridaios_bridge.config import FailsafeConfig, LimitsConfig

__all__ = [
    "CommandDecision",
    "CoreState",
    "DeviceOutput",
    "decide_command",
    "enter_failsafe",
    "failsafe_deadline_s",
    "initial_state",
    "mark_written",
    "on_heartbeat",
    "output",
]

Mode = Literal["normal", "failsafe"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceOutput:
    """What the device registers should hold."""

    setpoint_kw: float
    safe_mode: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreState:
    mode: Mode
    last_heartbeat_s: float  # monotonic time of the last heartbeat (start time before any)
    failsafe_since_s: float | None
    heartbeat_since_failsafe: bool
    target_kw: float  # where the setpoint is heading (already within the hard limits)
    written: DeviceOutput | None  # last output confirmed written to the device
    last_step_s: float  # monotonic time of the last output() call, for the ramp
    active_valid_until: datetime | None  # valid_until of the command behind target_kw


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandDecision:
    status: AckStatus
    value_kw: float | None
    reason: str
    apply: bool


def initial_state(now_s: float, held: DeviceOutput | None, fs: FailsafeConfig) -> CoreState:
    """Start as if a heartbeat arrived now: the runtime gets T to show up.

    ``held`` is what the device holds at start (read back), adopted without a write, so a
    restarted bridge never re-applies anything. A device found in safe mode keeps the
    bridge in fail-safe, with a fresh minimum hold.
    """
    in_safe = held is not None and held.safe_mode
    return CoreState(
        mode="failsafe" if in_safe else "normal",
        last_heartbeat_s=now_s,
        failsafe_since_s=now_s if in_safe else None,
        heartbeat_since_failsafe=False,
        target_kw=fs.safe_default_kw if held is None or in_safe else held.setpoint_kw,
        written=held,
        last_step_s=now_s,
        active_valid_until=None,
    )


def on_heartbeat(state: CoreState, received_s: float) -> CoreState:
    """A heartbeat received at ``received_s``; one received before fail-safe began (but
    handled after) does not count as the fresh heartbeat needed to leave it."""
    fresh = state.mode == "failsafe" and (
        state.failsafe_since_s is None or received_s >= state.failsafe_since_s
    )
    return replace(
        state,
        last_heartbeat_s=max(state.last_heartbeat_s, received_s),
        heartbeat_since_failsafe=state.heartbeat_since_failsafe or fresh,
    )


def failsafe_deadline_s(state: CoreState, fs: FailsafeConfig) -> float | None:
    """Monotonic time at which fail-safe is due, or None when already in it."""
    if state.mode == "failsafe":
        return None
    return state.last_heartbeat_s + fs.heartbeat_timeout_s


def enter_failsafe(state: CoreState, now_s: float, fs: FailsafeConfig) -> CoreState:
    return replace(
        state,
        mode="failsafe",
        failsafe_since_s=now_s,
        heartbeat_since_failsafe=False,
        target_kw=fs.safe_default_kw,
        active_valid_until=None,
    )


def _held_kw(state: CoreState) -> float | None:
    return None if state.written is None else state.written.setpoint_kw


def decide_command(
    state: CoreState,
    cmd: Command,
    *,
    setpoint_point: str,
    already_applied: bool,
    device_ok: bool,
    fs: FailsafeConfig,
    limits: LimitsConfig,
    now_s: float,
    now_utc: datetime,
) -> tuple[CoreState, CommandDecision]:
    """Accept or refuse one command. Order: duplicate, point, expiry, fail-safe, device, limits."""
    held = _held_kw(state)

    def refuse(status: AckStatus, reason: str) -> tuple[CoreState, CommandDecision]:
        return state, CommandDecision(status=status, value_kw=held, reason=reason, apply=False)

    if already_applied:
        return refuse("duplicate", "key already applied; not re-applied")
    if cmd.point != setpoint_point:
        return refuse(
            "rejected", f"unknown point {cmd.point!r}; this bridge takes {setpoint_point}"
        )
    if cmd.valid_until <= now_utc:
        late_s = (now_utc - cmd.valid_until).total_seconds()
        return refuse("expired", f"valid_until passed {late_s:.3f} s ago; never applied")
    heartbeat_age_s = now_s - state.last_heartbeat_s
    if state.mode == "failsafe":
        assert state.failsafe_since_s is not None
        left_s = fs.min_hold_s - (now_s - state.failsafe_since_s)
        if left_s > 0:
            return refuse("rejected", f"fail-safe: minimum hold, {left_s:.1f} s left")
        if not state.heartbeat_since_failsafe or heartbeat_age_s >= fs.heartbeat_timeout_s:
            return refuse("rejected", "fail-safe: needs a fresh heartbeat before a new command")
    elif heartbeat_age_s >= fs.heartbeat_timeout_s:
        return refuse("rejected", f"no heartbeat for {heartbeat_age_s:.1f} s; entering fail-safe")
    if not device_ok:
        return refuse("rejected", "device unreachable; command not applied")
    value = min(max(cmd.value, limits.min_kw), limits.max_kw)
    reason = ""
    if value != cmd.value:
        bound = "limits.max_kw" if cmd.value > limits.max_kw else "limits.min_kw"
        reason = f"clamped from {cmd.value:g} to {value:g} kW by the bridge's {bound}"
    new_state = replace(
        state,
        mode="normal",
        failsafe_since_s=None,
        heartbeat_since_failsafe=False,
        target_kw=value,
        active_valid_until=cmd.valid_until,
    )
    return new_state, CommandDecision(status="applied", value_kw=value, reason=reason, apply=True)


def output(
    state: CoreState,
    *,
    fs: FailsafeConfig,
    limits: LimitsConfig,
    now_s: float,
    now_utc: datetime,
) -> tuple[CoreState, DeviceOutput]:
    """What the device should hold now: the safe default in fail-safe (at once, no ramp),
    otherwise the target approached at most ``ramp_kw_per_s`` since the last step."""
    if state.mode == "failsafe":
        out = DeviceOutput(setpoint_kw=fs.safe_default_kw, safe_mode=True)
        return replace(state, last_step_s=now_s), out
    if (
        fs.revert_on_expiry
        and state.active_valid_until is not None
        and now_utc >= state.active_valid_until
    ):
        state = replace(state, target_kw=fs.safe_default_kw, active_valid_until=None)
    start = state.written.setpoint_kw if state.written is not None else fs.safe_default_kw
    # Never hold a value outside the hard limits, even one found on the device at start.
    target = min(max(state.target_kw, limits.min_kw), limits.max_kw)
    if limits.ramp_kw_per_s > 0 and state.written is not None:
        step = limits.ramp_kw_per_s * max(0.0, now_s - state.last_step_s)
        value = min(max(target, start - step), start + step)
    else:
        value = target
    return replace(state, last_step_s=now_s), DeviceOutput(setpoint_kw=value, safe_mode=False)


def mark_written(state: CoreState, out: DeviceOutput) -> CoreState:
    return replace(state, written=out)

"""The bridge battery's Modbus register map (holding registers): read and written by the
firmware bridge, served by its emulated inverter and by the virtual field's battery face.
Power is signed 16-bit in 0.1 kW (discharge positive), SoC is unsigned 16-bit in 0.01 %.
Standard library only; the table is in docs/wire-format.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = [
    "REG_COUNT",
    "WRITABLE",
    "DeviceReading",
    "SetpointWrite",
    "decode_reading",
    "encode_output",
    "followed_kw",
    "from_kw",
    "note_write",
    "soc_register",
    "to_kw",
]

SETPOINT_KW_X10 = 0  # RW: setpoint followed in mode 0
MODE = 1  # RW: 0 = follow the setpoint, 1 = safe-default mode (follow SAFE_DEFAULT)
SAFE_DEFAULT_KW_X10 = 2  # RW: power held in safe-default mode
MEASURED_KW_X10 = 3  # RO: measured AC power
SOC_PCT_X100 = 4  # RO: state of charge
SETPOINT_WRITES = 5  # RO: count of accepted writes touching the setpoint (wraps at 65536)
REG_COUNT = 6
WRITABLE = frozenset({SETPOINT_KW_X10, MODE, SAFE_DEFAULT_KW_X10})
MODE_FOLLOW, MODE_SAFE = 0, 1


def from_kw(power_kw: float) -> int:
    """kW -> register (0.1 kW, two's complement); saturates at the int16 range."""
    raw = max(-32768, min(32767, round(power_kw * 10)))
    return raw & 0xFFFF


def soc_register(soc_pct: float) -> int:
    """% -> register (0.01 %), clamped to 0..100 %."""
    return max(0, min(10000, round(soc_pct * 100)))


def to_kw(register: int) -> float:
    signed = register - 0x10000 if register & 0x8000 else register
    return signed / 10


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceReading:
    setpoint_kw: float
    safe_mode: bool
    safe_default_kw: float
    measured_kw: float
    soc_pct: float
    setpoint_writes: int


def decode_reading(regs: list[int]) -> DeviceReading:
    return DeviceReading(
        setpoint_kw=to_kw(regs[SETPOINT_KW_X10]),
        safe_mode=regs[MODE] == MODE_SAFE,
        safe_default_kw=to_kw(regs[SAFE_DEFAULT_KW_X10]),
        measured_kw=to_kw(regs[MEASURED_KW_X10]),
        soc_pct=regs[SOC_PCT_X100] / 100,
        setpoint_writes=regs[SETPOINT_WRITES],
    )


def encode_output(setpoint_kw: float, safe_mode: bool, safe_default_kw: float) -> list[int]:
    """The three writable registers, written together with function code 16."""
    return [from_kw(setpoint_kw), MODE_SAFE if safe_mode else MODE_FOLLOW, from_kw(safe_default_kw)]


def followed_kw(regs: list[int]) -> float:
    """What the device follows: the safe default in safe mode, else the setpoint."""
    return to_kw(regs[SAFE_DEFAULT_KW_X10 if regs[MODE] == MODE_SAFE else SETPOINT_KW_X10])


@dataclass(frozen=True, slots=True)
class SetpointWrite(Generic[T]):
    """One accepted write touching the setpoint register, at ``at`` on the device's own
    clock (monotonic seconds in the bridge's emulator, simulated time in the field)."""

    at: T
    setpoint_kw: float
    safe_mode: bool
    follows_kw: float


def note_write(regs: list[int], address: int, count: int, at: T) -> SetpointWrite[T] | None:
    """Book an accepted write of ``count`` registers from ``address`` (already in
    ``regs``): a write touching the setpoint counts in SETPOINT_WRITES (wrapping) and is
    returned as a record; any other write returns None."""
    if not address <= SETPOINT_KW_X10 < address + count:
        return None
    regs[SETPOINT_WRITES] = (regs[SETPOINT_WRITES] + 1) & 0xFFFF
    return SetpointWrite(
        at, to_kw(regs[SETPOINT_KW_X10]), regs[MODE] == MODE_SAFE, followed_kw(regs)
    )

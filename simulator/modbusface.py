"""The virtual field's battery behind a Modbus TCP register map: the device face a
firmware bridge (``gridaios-bridge``) talks to, as it would to a real inverter.

The map is the one in ``firmware-bridge/PROTOCOL.md`` §6 (holding registers,
function codes 3, 6 and 16); it is written here again with the standard library
because the simulator imports nothing but ``safety``:

    0 setpoint (int16, 0.1 kW)   RW    3 measured power (int16, 0.1 kW)  RO
    1 mode (0 follow, 1 safe)    RW    4 state of charge (uint16, 0.01 %) RO
    2 safe default (int16, 0.1)  RW    5 setpoint writes (uint16, wraps)  RO

The face serves on the field's asyncio loop, so every request sees the SimPy
battery exactly as the field's last step left it: measured power and SoC are the
simulated ones. A write that changes what the battery should follow (the setpoint,
or the safe default in safe mode) is offered to the battery as a command with a
key of its own (``<battery>-modbus-<n>``), so it lands in the battery's ledger
like any other command. While the scenario has the battery offline the face drops
connections without answering, as a powered-off device would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.field import VirtualField

log = logging.getLogger(__name__)

SETPOINT, MODE, SAFE_DEFAULT, MEASURED, SOC, WRITES = range(6)
REG_COUNT = 6
WRITABLE = frozenset({SETPOINT, MODE, SAFE_DEFAULT})
MODE_FOLLOW, MODE_SAFE = 0, 1
READ_HOLDING, WRITE_SINGLE, WRITE_MULTIPLE = 3, 6, 16
ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE, TARGET_NO_ANSWER = 1, 2, 3, 11
_MBAP = struct.Struct(">HHHB")


def to_register(power_kw: float) -> int:
    """kW -> int16 register in 0.1 kW (two's complement), saturating."""
    return max(-32768, min(32767, round(power_kw * 10))) & 0xFFFF


def from_register(register: int) -> float:
    return (register - 0x10000 if register & 0x8000 else register) / 10


@dataclass(frozen=True, slots=True)
class FaceWrite:
    """One accepted write touching the setpoint registers, in simulated time."""

    ts: datetime
    setpoint_kw: float
    safe_mode: bool
    follows_kw: float  # what the battery is told to follow after this write


class BatteryRegisterFace:
    """One simulated battery as a Modbus TCP device on ``host:port`` (0: a free port)."""

    def __init__(
        self,
        field: VirtualField,
        battery_id: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        unit_id: int = 1,
    ) -> None:
        if battery_id not in field.batteries:
            raise KeyError(f"the virtual field has no battery {battery_id!r}")
        self._field = field
        self.battery_id = battery_id
        self.host = host
        self.port = port
        self.unit_id = unit_id
        self._regs = [0] * REG_COUNT
        self._regs[SETPOINT] = to_register(field.batteries[battery_id].setpoint_kw)
        self._follows_kw: float | None = None
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self.counts: Counter[str] = Counter()
        self.writes: list[FaceWrite] = []

    # --- lifecycle ------------------------------------------------------------

    async def start(self) -> BatteryRegisterFace:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("battery %s on Modbus TCP %s:%d", self.battery_id, self.host, self.port)
        return self

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._conns):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    # --- the register map -------------------------------------------------------

    def registers(self) -> list[int]:
        """The six holding registers as a read would return them now."""
        battery = self._field.batteries[self.battery_id]
        self._regs[MEASURED] = to_register(battery.p_kw)
        self._regs[SOC] = max(0, min(10000, round(battery.soc_pct * 100)))
        return list(self._regs)

    @property
    def safe_mode(self) -> bool:
        return self._regs[MODE] == MODE_SAFE

    def handle(self, function: int, body: bytes) -> bytes:
        """The reply PDU (function byte included) to one request PDU."""
        try:
            if function == READ_HOLDING:
                address, count = struct.unpack(">HH", body[:4])
                if not 1 <= count <= 125 or address + count > REG_COUNT:
                    return bytes([function | 0x80, ILLEGAL_ADDRESS])
                self.counts["reads"] += 1
                regs = self.registers()[address : address + count]
                return bytes([function, 2 * count]) + struct.pack(f">{count}H", *regs)
            if function == WRITE_SINGLE:
                address, value = struct.unpack(">HH", body[:4])
                if not self._write(address, [value]):
                    return bytes([function | 0x80, ILLEGAL_ADDRESS])
                return bytes([function]) + body[:4]
            if function == WRITE_MULTIPLE:
                address, count, nbytes = struct.unpack(">HHB", body[:5])
                if nbytes != 2 * count or len(body) != 5 + nbytes:
                    return bytes([function | 0x80, ILLEGAL_VALUE])
                values = list(struct.unpack(f">{count}H", body[5:]))
                if not self._write(address, values):
                    return bytes([function | 0x80, ILLEGAL_ADDRESS])
                return bytes([function]) + body[:4]
        except struct.error:
            return bytes([function | 0x80, ILLEGAL_VALUE])
        return bytes([function | 0x80, ILLEGAL_FUNCTION])

    def _write(self, address: int, values: list[int]) -> bool:
        span = range(address, address + len(values))
        if not values or not all(a in WRITABLE for a in span):
            self.counts["refused_writes"] += 1
            return False
        self._regs[address : address + len(values)] = values
        self.counts["writes"] += 1
        if SETPOINT in span:
            self._regs[WRITES] = (self._regs[WRITES] + 1) & 0xFFFF
        self._drive(touched_setpoint=SETPOINT in span)
        return True

    def _drive(self, *, touched_setpoint: bool) -> None:
        """Tell the battery what to follow when that changed (safe default in mode 1)."""
        reg = SAFE_DEFAULT if self.safe_mode else SETPOINT
        follows_kw = from_register(self._regs[reg])
        now = self._field.now()
        if touched_setpoint:
            self.writes.append(
                FaceWrite(now, from_register(self._regs[SETPOINT]), self.safe_mode, follows_kw)
            )
            del self.writes[:-1000]
        if follows_kw == self._follows_kw:
            return
        battery = self._field.batteries[self.battery_id]
        key = f"{self.battery_id}-modbus-{self.counts['writes']}"
        if battery.offer_command(key, follows_kw, now):
            self._follows_kw = follows_kw
            self.counts["applied"] += 1

    # --- Modbus TCP framing -----------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        self.counts["connections"] += 1
        try:
            while True:
                header = await reader.readexactly(7)
                tid, proto, length, unit = _MBAP.unpack(header)
                if proto != 0 or not 2 <= length <= 254:
                    self.counts["bad_frames"] += 1
                    return
                pdu = await reader.readexactly(length - 1)
                if not self._field.batteries[self.battery_id].online:
                    self.counts["offline_dropped"] += 1
                    return  # a powered-off device does not answer
                if unit != self.unit_id:
                    reply = bytes([pdu[0] | 0x80, TARGET_NO_ANSWER])
                else:
                    reply = self.handle(pdu[0], pdu[1:])
                writer.write(_MBAP.pack(tid, 0, len(reply) + 1, unit) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self._conns.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

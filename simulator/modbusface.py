"""The virtual field's battery behind a Modbus TCP register map: the device face a
firmware bridge (``gridaios-bridge``) talks to, as it would to a real inverter.

The map is the bridge battery's (``gridaios_wire.battery_map``, docs/wire-format.md),
served by pymodbus through ``gridaios_wire.modbus_device`` like the bridge's own
emulated inverter: holding registers 0-5, function codes 3, 6 and 16, only its own unit
id.

The face serves on the field's asyncio loop, so every request sees the SimPy
battery exactly as the field's last step left it: measured power and SoC are the
simulated ones. A write that changes what the battery should follow (the setpoint,
or the safe default in safe mode) is offered to the battery as a command with a
key of its own (``<battery>-modbus-<n>``), so it lands in the battery's ledger
like any other command. While the scenario has the battery offline the face does not
answer, as a powered-off device would.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

from gridaios_wire import battery_map as m
from gridaios_wire.modbus_device import Block, RegisterDevice

if TYPE_CHECKING:
    from simulator.field import VirtualField

log = logging.getLogger(__name__)


FaceWrite = m.SetpointWrite[datetime]  # ``at``: simulated time


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
        self._regs = [0] * m.REG_COUNT
        self._regs[m.SETPOINT_KW_X10] = m.from_kw(field.batteries[battery_id].setpoint_kw)
        self._device = RegisterDevice(
            holding=Block(0, self._regs, set(m.WRITABLE)), unit_id=unit_id, host=host, port=port
        )
        self._device.before_access = self._measure
        self._device.after_write = self._on_write
        self._device.answering = lambda: self._field.batteries[self.battery_id].online
        self._follows_kw: float | None = None
        self._writes_seen = 0
        # reads, writes, other_unit, unanswered (offline) from the device; applied from here
        self.counts: Counter[str] = self._device.counts
        self.writes: list[FaceWrite] = []

    @property
    def host(self) -> str:
        return self._device.host

    @property
    def port(self) -> int:
        return self._device.port

    @property
    def unit_id(self) -> int:
        return self._device.unit_id

    # --- lifecycle ------------------------------------------------------------

    async def start(self) -> BatteryRegisterFace:
        await self._device.serve()
        log.info("battery %s on Modbus TCP %s:%d", self.battery_id, self.host, self.port)
        return self

    async def stop(self) -> None:
        await self._device.shutdown()

    # --- the register map -------------------------------------------------------

    def registers(self) -> list[int]:
        """The six holding registers as a read would return them now."""
        self._measure()
        return list(self._regs)

    def _measure(self) -> None:
        battery = self._field.batteries[self.battery_id]
        self._regs[m.MEASURED_KW_X10] = m.from_kw(battery.p_kw)
        self._regs[m.SOC_PCT_X100] = m.soc_register(battery.soc_pct)

    @property
    def safe_mode(self) -> bool:
        return self._regs[m.MODE] == m.MODE_SAFE

    def _on_write(self, address: int, values: list[int]) -> None:
        """Tell the battery what to follow when that changed (safe default in mode 1)."""
        self._writes_seen += 1
        now = self._field.now()
        record = m.note_write(self._regs, address, len(values), now)
        if record is not None:
            self.writes.append(record)
            del self.writes[:-1000]
        follows_kw = m.followed_kw(self._regs)
        if follows_kw == self._follows_kw:
            return
        battery = self._field.batteries[self.battery_id]
        key = f"{self.battery_id}-modbus-{self._writes_seen}"
        if battery.offer_command(key, follows_kw, now):
            self._follows_kw = follows_kw
            self.counts["applied"] += 1

"""The SimPy battery's Modbus TCP face (pymodbus), read and written by the bridge's client.

The field's clock is stepped by the test (no sleeps); the bridge's ``ModbusClient``
runs in a thread, as it does in the bridge process, against the face on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from gridaios_bridge.modbus import ModbusClient, ModbusError
from gridaios_wire import battery_map as r

from runtime.config.model import load_config
from runtime.demo.bridge import BRIDGE_SITE_CONFIG, field_spec_behind_bridge
from simulator import VirtualField, load_scenario
from simulator.modbusface import BatteryRegisterFace

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@asynccontextmanager
async def face() -> AsyncIterator[tuple[BatteryRegisterFace, VirtualField, Clock]]:
    config = load_config(BRIDGE_SITE_CONFIG)
    scenario = load_scenario("evening-peak", REPO / "configs" / "scenarios")
    clock = Clock(scenario.start)
    field = VirtualField(
        field_spec_behind_bridge(config, {"bat1"}), scenario, clock, "opc.tcp://unused"
    )
    device = await BatteryRegisterFace(field, "bat1").start()
    try:
        yield device, field, clock
    finally:
        await device.stop()


async def test_the_bridge_client_reads_the_simulated_battery_and_drives_it() -> None:
    async with face() as (device, field, clock):
        client = ModbusClient("127.0.0.1", device.port, unit=1, timeout_s=2.0)
        try:
            reading = r.decode_reading(await asyncio.to_thread(client.read_holding, 0, 6))
            battery = field.batteries["bat1"]
            assert reading.soc_pct == pytest.approx(battery.soc_pct, abs=0.01)
            assert reading.measured_kw == 0.0 and not reading.safe_mode

            regs = r.encode_output(120.0, False, 0.0)
            await asyncio.to_thread(client.write_multiple, 0, regs)
            assert [(c.key, c.value) for c in field.ledger("bat1")] == [("bat1-modbus-1", 120.0)]
            clock.now += timedelta(seconds=60)
            await field.step(clock.now)
            reading = r.decode_reading(await asyncio.to_thread(client.read_holding, 0, 6))
            assert reading.setpoint_kw == 120.0 and reading.setpoint_writes == 1
            assert reading.measured_kw == pytest.approx(battery.p_kw, abs=0.05)
            assert battery.p_kw > 100 and reading.soc_pct < 85.0

            # Safe-default mode: the battery follows register 2, whatever register 0 holds.
            await asyncio.to_thread(client.write_multiple, 0, r.encode_output(0.0, True, -5.0))
            assert field.ledger("bat1")[-1].value == -5.0 and device.safe_mode
            # The same output again is no new command for the battery.
            await asyncio.to_thread(client.write_multiple, 0, r.encode_output(0.0, True, -5.0))
            assert len(field.ledger("bat1")) == 2

            with pytest.raises(ModbusError, match="exception code 2"):
                await asyncio.to_thread(client.write_single, 3, 1)  # measured power: read-only
            with pytest.raises(ModbusError, match="exception code 2"):
                await asyncio.to_thread(client.read_holding, 4, 5)  # past the map
            assert device.counts["writes"] == 3
        finally:
            client.close()


async def test_an_offline_battery_does_not_answer() -> None:
    async with face() as (device, field, _clock):
        field.batteries["bat1"].online = False
        client = ModbusClient("127.0.0.1", device.port, unit=1, timeout_s=2.0)
        try:
            with pytest.raises(ModbusError):
                await asyncio.to_thread(client.read_holding, 0, 6)
            assert device.counts["unanswered"] == 1
            field.batteries["bat1"].online = True
            assert len(await asyncio.to_thread(client.read_holding, 0, 6)) == 6
        finally:
            client.close()


async def test_input_registers_and_other_units_are_refused() -> None:
    async with face() as (device, _field, _clock):
        client = ModbusClient("127.0.0.1", device.port, unit=1, timeout_s=2.0)
        other = ModbusClient("127.0.0.1", device.port, unit=7, timeout_s=2.0)
        try:
            with pytest.raises(ModbusError, match="exception code 2 on fc 4"):
                await asyncio.to_thread(client.read_input, 0, 1)  # the map has none
            with pytest.raises(ModbusError, match="exception code 11"):
                await asyncio.to_thread(other.read_holding, 0, 6)
            assert device.counts["other_unit"] == 1
        finally:
            client.close()
            other.close()

"""The Modbus TCP client against the emulated inverter (real sockets on loopback)."""

from __future__ import annotations

import pytest
from gridaios_bridge import EmulatedInverter
from gridaios_bridge.config import EmulatorConfig
from gridaios_bridge.modbus import ModbusClient, ModbusError
from gridaios_wire import battery_map as r

from tests.firmware_bridge.harness import wait_until


@pytest.fixture
def fast_device():
    clock = {"t": 0.0}
    dev = EmulatedInverter(
        EmulatorConfig(capacity_kwh=100.0, initial_soc_pct=50.0, response_time_s=0.0),
        clock=lambda: clock["t"],
    ).start()
    yield dev, clock
    dev.stop()


def test_register_roundtrip_and_physics(fast_device):
    dev, clock = fast_device
    client = ModbusClient(dev.host, dev.port)
    client.write_multiple(r.SETPOINT_KW_X10, r.encode_output(-50.0, False, 0.0))
    clock["t"] = 360.0  # 0.1 h of charging at 50 kW into 100 kWh: +5 %
    reading = r.decode_reading(client.read_holding(0, r.REG_COUNT))
    assert reading.setpoint_kw == -50.0 and reading.measured_kw == -50.0
    assert reading.soc_pct == pytest.approx(55.0, abs=0.01)
    assert reading.setpoint_writes == 1
    client.write_single(r.MODE, r.MODE_SAFE)  # safe-default mode follows register 2 (0 kW)
    clock["t"] = 720.0
    reading = r.decode_reading(client.read_holding(0, r.REG_COUNT))
    assert reading.safe_mode and reading.measured_kw == 0.0
    assert reading.soc_pct == pytest.approx(55.0, abs=0.01)
    client.close()


def test_read_only_registers_refuse_writes(fast_device):
    dev, _ = fast_device
    client = ModbusClient(dev.host, dev.port)
    with pytest.raises(ModbusError, match="exception code 2"):
        client.write_single(r.MEASURED_KW_X10, 1)
    # The connection is still usable after a device exception.
    assert len(client.read_holding(0, r.REG_COUNT)) == r.REG_COUNT
    client.close()


def test_unreachable_device_is_a_modbus_error_and_the_client_recovers():
    dev = EmulatedInverter(EmulatorConfig()).start()
    port = dev.port
    client = ModbusClient("127.0.0.1", port, timeout_s=0.5)
    client.read_holding(0, 1)
    dev.stop()
    with pytest.raises(ModbusError):
        wait_until(lambda: client.read_holding(0, 1) and False, 5, "a failing read")
    client.close()


def test_register_scaling_saturates_and_is_signed():
    assert r.to_kw(r.from_kw(-12.3)) == -12.3
    assert r.to_kw(r.from_kw(99999.0)) == 3276.7
    assert r.to_kw(r.from_kw(-99999.0)) == -3276.8

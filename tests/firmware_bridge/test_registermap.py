"""Declared register maps: data types, word order, scale, function codes and unit ids,
against pymodbus's own server (SimDevice + ModbusTcpServer), and the config that
declares them (one-line refusals naming field, value and rule)."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from gridaios_bridge.config import ConfigError, RegisterPoint, load_config
from gridaios_bridge.devices import RegisterMapDevice
from gridaios_bridge.modbus import ModbusClient, ModbusError
from gridaios_bridge.registermap import decode, encode
from pymodbus.simulator import DataType, SimData, SimDevice

from tests.support.pymodbus_server import ThreadedModbusServer

EXAMPLE = Path(__file__).parents[2] / "firmware-bridge" / "examples" / "bat1.yaml"


def _words(fmt: str, value: float) -> list[int]:
    raw = struct.pack(f">{fmt}", value)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


@pytest.mark.parametrize(
    ("point", "value", "registers"),
    [
        (RegisterPoint(address=0, type="int16", scale=0.1), -12.3, _words("h", -123)),
        (RegisterPoint(address=0, type="uint16", scale=0.01), 655.35, [65535]),
        (RegisterPoint(address=0, type="int32", scale=0.001), -123.456, _words("i", -123456)),
        (
            RegisterPoint(address=0, type="int32", scale=0.001, word_order="little"),
            -123.456,
            list(reversed(_words("i", -123456))),
        ),
        (RegisterPoint(address=0, type="uint32"), 4_000_000_000, _words("I", 4_000_000_000)),
        (RegisterPoint(address=0, type="float32"), 1.5, _words("f", 1.5)),
        (
            RegisterPoint(address=0, type="float32", word_order="little"),
            -2.25,
            list(reversed(_words("f", -2.25))),
        ),
    ],
)
def test_types_word_order_and_scale(
    point: RegisterPoint, value: float, registers: list[int]
) -> None:
    assert encode(value, point) == registers
    assert decode(registers, point) == pytest.approx(value)


def test_writes_saturate_at_the_type_range() -> None:
    assert encode(5000.0, RegisterPoint(address=0, type="int16", scale=0.1)) == _words("h", 32767)
    assert encode(-1.0, RegisterPoint(address=0, type="uint16")) == [0]


class _Meter:
    """A third-party device: measured power int32 little-endian in W on input registers
    30000-30001, SoC uint16 in 0.1 % at input 30010, the setpoint float32 in kW
    (big-endian) on holding registers 40000-40001; unit id 3 only."""

    def __init__(self) -> None:
        self.port = 0
        self.holding = _words("f", 0.0)

    def start(self) -> _Meter:
        power = list(reversed(_words("i", -12_345)))  # -12.345 kW
        device = SimDevice(
            3,
            simdata=(
                [SimData(0, values=False, datatype=DataType.BITS)],
                [SimData(0, values=False, datatype=DataType.BITS)],
                [SimData(40000, values=self.holding, datatype=DataType.REGISTERS)],
                [
                    SimData(30000, values=power, datatype=DataType.REGISTERS),
                    SimData(30010, values=[655], datatype=DataType.REGISTERS),
                ],
            ),
        )
        self._server = ThreadedModbusServer(device).start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        self._server.stop()


@pytest.fixture
def meter() -> Iterator[_Meter]:
    dev = _Meter().start()
    yield dev
    dev.stop()


POINTS = {
    "p_kw": RegisterPoint(
        address=30000, type="int32", word_order="little", scale=0.001, function="input"
    ),
    "soc_pct": RegisterPoint(address=30010, type="uint16", scale=0.1, function="input"),
    "p_setpoint_kw": RegisterPoint(address=40000, type="float32"),
}


def test_a_declared_map_reads_and_writes_a_third_party_device(meter: _Meter) -> None:
    device = RegisterMapDevice(ModbusClient("127.0.0.1", meter.port, unit=3), POINTS)
    try:
        reading = device.read()
        assert reading.measured_kw == pytest.approx(-12.345)
        assert reading.soc_pct == pytest.approx(65.5)
        assert reading.setpoint_kw == 0.0 and not reading.safe_mode
        device.write(42.5, False, 0.0)
        assert device.read().setpoint_kw == 42.5  # read back from the same registers
        device.write(42.5, True, -7.0)  # fail-safe: the safe default as the setpoint
        assert device.read().setpoint_kw == -7.0
    finally:
        device.close()


def test_another_unit_id_gets_no_answer_from_this_device(meter: _Meter) -> None:
    device = RegisterMapDevice(ModbusClient("127.0.0.1", meter.port, unit=1), POINTS)
    try:
        with pytest.raises(ModbusError):
            device.read()
    finally:
        device.close()


def _config(tmp_path: Path, device_map: dict[str, Any], **limits: float) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["device_map"] = device_map
    data["limits"].update(limits)
    path = tmp_path / "bridge.json"
    path.write_text(json.dumps(data))
    return path


def test_a_declared_map_loads_from_yaml(tmp_path: Path) -> None:
    text = EXAMPLE.read_text() + (
        "device_map:\n  map: registers\n  registers:\n"
        "    p_kw: {address: 30000, type: int32, word_order: little, scale: 0.001, "
        "function: input}\n"
        "    p_setpoint_kw: {address: 40000, type: float32}\n"
        "    v_pu: {address: 30020, type: uint16, scale: 0.001, function: input, unit: pu}\n"
    )
    path = tmp_path / "b.yaml"
    path.write_text(text.replace("../.state/bat1", "state"))
    cfg = load_config(path)
    assert cfg.device_map.map == "registers"
    assert cfg.device_map.registers["p_kw"] == POINTS["p_kw"]
    assert cfg.device_map.registers["v_pu"].unit == "pu"


@pytest.mark.parametrize(
    ("device_map", "limits", "message"),
    [
        (
            {"map": "registers", "registers": {"p_kw": {"address": 1, "type": "int64"}}},
            {},
            "device_map.registers.p_kw.type = 'int64': must be one of int16, uint16, int32, "
            "uint32, float32",
        ),
        (
            {"map": "registers", "registers": {"p_kw": {"address": 1}}},
            {},
            "device_map.registers.p_setpoint_kw is required with map = registers",
        ),
        (
            {
                "map": "registers",
                "registers": {
                    "p_kw": {"address": 1},
                    "p_setpoint_kw": {"address": 2, "function": "input"},
                },
            },
            {},
            "device_map.registers.p_setpoint_kw.function = 'input': must be 'holding'",
        ),
        (
            {"map": "registers", "registers": {"p_kw": {"address": 65535, "type": "int32"}}},
            {},
            "device_map.registers.p_kw.address = 65535: a int32 there ends past register 65535",
        ),
        (
            {"map": "registers", "registers": {"p_kw": {"address": 1, "scale": 0}}},
            {},
            "device_map.registers.p_kw.scale = 0: must not be 0",
        ),
        ({"map": "modbus"}, {}, "device_map.map = 'modbus': must be one of battery, registers"),
        (
            {"map": "sunspec", "sunspec": {"control": 705}},
            {"min_kw": 0.0},
            "device_map.sunspec.control = '705': must be one of auto, 704, 123",
        ),
        (
            {"map": "sunspec"},
            {"min_kw": -10.0},
            "limits.min_kw = -10.0: must be >= 0 with device_map.map = sunspec",
        ),
        (
            {"map": "battery", "registers": {"p_kw": {"address": 1}}},
            {},
            "device_map.registers is set but map = 'battery'",
        ),
    ],
)
def test_bad_maps_are_refused_in_one_line_naming_field_value_and_rule(
    tmp_path: Path, device_map: dict[str, Any], limits: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, device_map, **limits))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("setpoint", "message"),
    [
        # a discharge of -250 kW to an unsigned register would be written as 0 kW
        ({"address": 2, "type": "uint16"}, "limits.min_kw = -250"),
        # -250 kW in 0.01 kW steps is raw -25000 (fits); in 0.001 kW steps -250000 does not
        ({"address": 2, "type": "int16", "scale": 0.001}, "limits.min_kw = -250 is raw -250000"),
    ],
)
def test_limits_the_setpoint_register_cannot_carry_are_refused(
    tmp_path: Path, setpoint: dict[str, Any], message: str
) -> None:
    """Writes saturate at the register's range (never wrap), so a limit outside it would
    be written as a different setpoint than the one commanded: refused at load instead."""
    device_map = {
        "map": "registers",
        "registers": {"p_kw": {"address": 1}, "p_setpoint_kw": setpoint},
    }
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, device_map))
    assert message in str(err.value) and "p_setpoint_kw" in str(err.value)


def test_limits_inside_the_setpoint_register_are_fine(tmp_path: Path) -> None:
    setpoint = {"address": 2, "type": "int16", "scale": 0.01}
    device_map = {
        "map": "registers",
        "registers": {"p_kw": {"address": 1}, "p_setpoint_kw": setpoint},
    }
    load_config(_config(tmp_path, device_map))

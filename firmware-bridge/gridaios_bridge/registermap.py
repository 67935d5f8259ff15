"""One declared register point <-> its value in engineering units. Pure.

The bytes are pymodbus's (``convert_from_registers`` / ``convert_to_registers``: data
type and word order); the scale is ours: ``value = raw * scale``. Writing saturates at
the data type's range, as the battery map does, so a large setpoint never wraps around.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pymodbus.client import ModbusTcpClient

if TYPE_CHECKING:
    from gridaios_bridge.config import RegisterPoint

__all__ = ["DATA_TYPES", "decode", "encode", "words_of"]

_DT = ModbusTcpClient.DATATYPE
DATA_TYPES: dict[str, tuple[ModbusTcpClient.DATATYPE, float, float]] = {
    # name -> (pymodbus type, smallest, largest raw value)
    "int16": (_DT.INT16, -(2**15), 2**15 - 1),
    "uint16": (_DT.UINT16, 0, 2**16 - 1),
    "int32": (_DT.INT32, -(2**31), 2**31 - 1),
    "uint32": (_DT.UINT32, 0, 2**32 - 1),
    "float32": (_DT.FLOAT32, -3.4e38, 3.4e38),
}


def words_of(data_type: str) -> int:
    return int(DATA_TYPES[data_type][0].value[1])


def decode(registers: list[int], point: RegisterPoint) -> float:
    dtype = DATA_TYPES[point.type][0]
    raw = ModbusTcpClient.convert_from_registers(registers, dtype, word_order=point.word_order)
    assert isinstance(raw, int | float)
    return float(raw) * point.scale


def encode(value: float, point: RegisterPoint) -> list[int]:
    dtype, low, high = DATA_TYPES[point.type]
    raw = value / point.scale
    if not math.isfinite(raw):
        raise ValueError(f"{value} cannot be written to a {point.type} register")
    raw = max(low, min(high, raw))
    scalar: int | float = raw if point.type == "float32" else round(raw)
    return ModbusTcpClient.convert_to_registers(scalar, dtype, word_order=point.word_order)

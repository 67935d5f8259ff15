"""Typed, scaled OPC UA writes: engineering values to the node's own DataType and back.

A standard server checks the type of every write (a ``Float`` node refuses a ``Double``
with ``BadTypeMismatch``), so a value is sent in the node's DataType, read from the
server, or in the type the point's config forces. ``raw = (engineering - offset) / scale``
on the way out, ``engineering = raw * scale + offset`` on the way back. A value the type
cannot carry is refused here, before anything goes on the wire.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from asyncua import ua

from connectors.badinput import BadInputReason
from connectors.errors import WriteRefused
from connectors.points import PointBinding

NUMERIC_TYPES: dict[str, ua.VariantType] = {
    name: getattr(ua.VariantType, name)
    for name in (
        "Boolean",
        "SByte",
        "Byte",
        "Int16",
        "UInt16",
        "Int32",
        "UInt32",
        "Int64",
        "UInt64",
        "Float",
        "Double",
    )
}
_INT_RANGES: dict[ua.VariantType, tuple[int, int]] = {
    ua.VariantType.SByte: (-(2**7), 2**7 - 1),
    ua.VariantType.Byte: (0, 2**8 - 1),
    ua.VariantType.Int16: (-(2**15), 2**15 - 1),
    ua.VariantType.UInt16: (0, 2**16 - 1),
    ua.VariantType.Int32: (-(2**31), 2**31 - 1),
    ua.VariantType.UInt32: (0, 2**32 - 1),
    ua.VariantType.Int64: (-(2**63), 2**63 - 1),
    ua.VariantType.UInt64: (0, 2**64 - 1),
}
_FLOAT32_MAX = 3.4028234663852886e38

# Write results that no retry can change: the dispatch ends with the device's reason.
PERMANENT_WRITE_ERRORS = frozenset(
    {
        ua.StatusCodes.BadTypeMismatch,
        ua.StatusCodes.BadNotWritable,
        ua.StatusCodes.BadUserAccessDenied,
        ua.StatusCodes.BadOutOfRange,
        ua.StatusCodes.BadWriteNotSupported,
        ua.StatusCodes.BadNodeIdUnknown,
        ua.StatusCodes.BadNodeIdInvalid,
        ua.StatusCodes.BadAttributeIdInvalid,
        ua.StatusCodes.BadIndexRangeInvalid,
        ua.StatusCodes.BadNotSupported,
        ua.StatusCodes.BadDataEncodingInvalid,
        ua.StatusCodes.BadDataEncodingUnsupported,
    }
)


@dataclass(frozen=True, slots=True)
class WireValue:
    variant: ua.Variant
    tolerance: float  # engineering units: how far a faithful read-back may be


def is_numeric(variant_type: ua.VariantType) -> bool:
    return variant_type in NUMERIC_TYPES.values()


def is_integer(variant_type: ua.VariantType) -> bool:
    return variant_type in _INT_RANGES or variant_type is ua.VariantType.Boolean


def to_wire(
    value: float, variant_type: ua.VariantType, *, scale: float, offset: float, what: str
) -> WireValue:
    """The engineering ``value`` as a Variant of ``variant_type``; WriteRefused when the type
    cannot carry it (not numeric, outside an integer's range, not finite)."""
    if not math.isfinite(value):
        raise WriteRefused(f"{what}: value {value} is not finite")
    raw = (value - offset) / scale
    step = abs(scale)
    if variant_type is ua.VariantType.Double:
        return WireValue(ua.Variant(raw, variant_type), 1e-6 + abs(value) * 1e-12)
    if variant_type is ua.VariantType.Float:
        if abs(raw) > _FLOAT32_MAX:
            raise WriteRefused(f"{what}: raw value {raw:g} does not fit a Float")
        as_float32 = struct.unpack("<f", struct.pack("<f", raw))[0]
        return WireValue(ua.Variant(as_float32, variant_type), 1e-6 + abs(raw) * 1.2e-7 * step)
    if variant_type is ua.VariantType.Boolean:
        if raw not in (0.0, 1.0):
            raise WriteRefused(f"{what}: raw value {raw:g} is not 0 or 1 for a Boolean node")
        return WireValue(ua.Variant(raw == 1.0, variant_type), 1e-6)
    bounds = _INT_RANGES.get(variant_type)
    if bounds is None:
        raise WriteRefused(
            f"{what}: the node's DataType is {variant_type.name}, not a number; map a numeric "
            "node, or set data_type on the point"
        )
    rounded = round(raw)
    if not bounds[0] <= rounded <= bounds[1]:
        raise WriteRefused(
            f"{what}: {value:g} is raw {rounded} (scale {scale:g}, offset {offset:g}), outside "
            f"{variant_type.name} [{bounds[0]}, {bounds[1]}]"
        )
    return WireValue(ua.Variant(rounded, variant_type), step / 2 + 1e-9)


def from_wire(raw: object, *, scale: float, offset: float) -> float:
    """A read-back's raw value in engineering units (NaN when it is not a number)."""
    if isinstance(raw, bool | int | float):
        return float(raw) * scale + offset
    return math.nan


def refusal(status: ua.StatusCode | int) -> str | None:
    """The status name when a write result is a permanent refusal, else None."""
    code = status.value if isinstance(status, ua.StatusCode) else status
    if code in PERMANENT_WRITE_ERRORS:
        return str(ua.StatusCode(code).name)
    return None


def writable(access_level: int) -> bool:
    return bool(access_level & ua.AccessLevel.CurrentWrite.mask)


_FLOATS = {ua.VariantType.Float, ua.VariantType.Double}


def builtin_type(data_type: ua.NodeId | None) -> ua.VariantType | None:
    """A DataType node id as a built-in Variant type; None for subtypes and custom types."""
    if data_type is None or data_type.NamespaceIndex != 0:
        return None
    ident = data_type.Identifier
    if isinstance(ident, int) and 1 <= ident <= 25:
        return ua.VariantType(ident)
    return None


def point_problem(
    binding: PointBinding, server_unit: str | None, data_type: ua.NodeId | None
) -> tuple[BadInputReason, str] | None:
    """Why this node cannot be this point (unit or type), or None.

    - the server's EngineeringUnits differ from the config's unit: refused, as the MQTT
      codec refuses the same mismatch (scale it in the device, or fix the config's unit);
    - a node of a non-numeric built-in type (String, DateTime, ...): refused;
    - an integer or Boolean node without EngineeringUnits mapped as a point with a unit
      (a status or mode word taken for kW): refused unless the point states its
      ``data_type`` (an integer register that really is the measurement).
    """
    if server_unit and binding.unit and server_unit != binding.unit:
        return (
            BadInputReason.UNIT_MISMATCH,
            f"the server says {server_unit!r}, the config {binding.unit!r}; set the point's "
            f"unit to {server_unit!r} (with scale/offset if it must be converted)",
        )
    builtin = builtin_type(data_type)
    if builtin is None:
        return None
    if not is_numeric(builtin):
        return (
            BadInputReason.WRONG_TYPE,
            f"the node's DataType is {builtin.name}, not a number; map a numeric node",
        )
    if builtin not in _FLOATS and binding.unit and not server_unit and binding.data_type is None:
        return (
            BadInputReason.WRONG_TYPE,
            f"the node is an {builtin.name} without EngineeringUnits (a status or mode word?) "
            f"mapped as a {binding.unit} point; map the measured value, or set "
            f"data_type: {builtin.name} (and scale) on the point if it really is in "
            f"{binding.unit}",
        )
    return None

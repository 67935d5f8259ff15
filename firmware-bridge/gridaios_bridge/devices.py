"""What the bridge reads from and writes to its device, per register map.

Three maps (``device.map`` in the config):

- ``battery``: the bridge battery's fixed map (``gridaios_wire.battery_map``), with a
  safe-default mode register;
- ``registers``: a map the integrator declares per point (address, data type, word
  order, scale, function code), for a device nobody here wrote;
- ``sunspec``: a SunSpec device, its models discovered on the wire
  (``gridaios_bridge.sunspec``).

A device without a safe-default mode (``registers``, ``sunspec``) gets the safe default
written to its setpoint, like any other setpoint. Every failure is a ``ModbusError``.
"""

from __future__ import annotations

from gridaios_wire import battery_map

from gridaios_bridge.config import DeviceConfig, ModbusConfig, RegisterPoint
from gridaios_bridge.device import Device, Reading
from gridaios_bridge.modbus import HOLDING, INPUT, ModbusClient
from gridaios_bridge.registermap import decode, encode

__all__ = ["BatteryMapDevice", "RegisterMapDevice", "open_device"]


class BatteryMapDevice:
    has_safe_mode = True

    def __init__(self, client: ModbusClient) -> None:
        self.client = client

    def read(self) -> Reading:
        r = battery_map.decode_reading(self.client.read_holding(0, battery_map.REG_COUNT))
        return Reading(
            setpoint_kw=r.setpoint_kw,
            safe_mode=r.safe_mode,
            measured_kw=r.measured_kw,
            soc_pct=r.soc_pct,
        )

    def write(self, setpoint_kw: float, safe_mode: bool, safe_default_kw: float) -> None:
        regs = battery_map.encode_output(setpoint_kw, safe_mode, safe_default_kw)
        self.client.write_multiple(battery_map.SETPOINT_KW_X10, regs)

    def quantize(self, setpoint_kw: float) -> float:
        return battery_map.to_kw(battery_map.from_kw(setpoint_kw))

    def close(self) -> None:
        self.client.close()


class RegisterMapDevice:
    """A declared map: ``p_kw`` and ``p_setpoint_kw`` (written, and read back from the
    same registers), ``soc_pct`` if declared, and any other declared point published
    as ``<device>.<name>``."""

    has_safe_mode = False

    def __init__(self, client: ModbusClient, points: dict[str, RegisterPoint]) -> None:
        self.client = client
        self.points = points

    def _read(self, point: RegisterPoint) -> float:
        function = INPUT if point.function == "input" else HOLDING
        return decode(self.client.read(function, point.address, point.words), point)

    def read(self) -> Reading:
        values = {name: self._read(p) for name, p in self.points.items()}
        return Reading(
            setpoint_kw=values.pop("p_setpoint_kw"),
            safe_mode=False,
            measured_kw=values.pop("p_kw"),
            soc_pct=values.pop("soc_pct", None),
            extra=tuple((name, v, self.points[name].unit) for name, v in values.items()),
        )

    def write(self, setpoint_kw: float, safe_mode: bool, safe_default_kw: float) -> None:
        point = self.points["p_setpoint_kw"]
        regs = encode(safe_default_kw if safe_mode else setpoint_kw, point)
        if len(regs) == 1:
            self.client.write_single(point.address, regs[0])
        else:
            self.client.write_multiple(point.address, regs)

    def quantize(self, setpoint_kw: float) -> float:
        point = self.points["p_setpoint_kw"]
        return decode(encode(setpoint_kw, point), point)

    def close(self) -> None:
        self.client.close()


def open_device(modbus: ModbusConfig, device: DeviceConfig) -> Device:
    """The device behind the configured map (no I/O yet: SunSpec discovers lazily)."""
    client = ModbusClient(modbus.host, modbus.port, modbus.unit_id, modbus.timeout_s)
    if device.map == "registers":
        return RegisterMapDevice(client, device.registers)
    if device.map == "sunspec":
        # pysunspec2 (and its model definitions) is loaded only for a SunSpec device
        from gridaios_bridge.sunspec import SunSpecDevice

        return SunSpecDevice(client, device.sunspec)
    return BatteryMapDevice(client)

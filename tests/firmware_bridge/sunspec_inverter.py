"""An emulated SunSpec PV inverter for tests, independent of the bridge's code: its register
layout is built by pysunspec2 from its own model definitions and served by pymodbus's
own server (SimDevice + ModbusTcpServer), in a thread with its own event loop.

Models: 1 (common), 103 (three-phase inverter), 123 (immediate controls), 701 (DER AC
measurement), 702 (DER capacity), 703 (enter service), 704 (DER AC controls), 705
(volt-var, one curve), 713 (storage capacity) — or a subset. Physics: the AC power
``W`` (models 701 and 103) follows the available PV power capped by the active limit
(704 ``WMaxLimPct`` when ``WMaxLimPctEna`` = 1, 123 ``WMaxLimPct`` when ``WMaxLim_Ena``
= 1), recomputed on every request.
"""

from __future__ import annotations

import threading
from typing import Any

from pymodbus.simulator import DataType, SimData, SimDevice
from sunspec2 import device as ss

from tests.support.pymodbus_server import ThreadedModbusServer

BASE = 40000
ALL_MODELS = (1, 103, 123, 701, 702, 703, 704, 705, 713)


def _model(mid: int, values: dict[str, Any]) -> Any:
    data: dict[str, Any] = {"ID": mid}
    if mid == 705:
        data.update({"NCrv": 1, "NPt": 2, "Crv": [{"Pt": [{"V": 92, "Var": 30}, {"V": 108}]}]})
    model = ss.Model(model_id=mid, data=data)
    model.points["ID"].value = mid
    model.points["L"].value = len(model.get_mb()) // 2 - 2
    for name, value in values.items():
        model.points[name].value = value
    return model


def _regs(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


class SunSpecInverter:
    def __init__(
        self,
        *,
        rated_w: int = 100_000,
        available_w: int = 80_000,
        models: tuple[int, ...] = ALL_MODELS,
        unit_id: int = 1,
    ) -> None:
        self.rated_w, self.available_w, self.unit_id = rated_w, available_w, unit_id
        initial: dict[int, dict[str, Any]] = {
            1: {"Mn": "gridaios-test", "Md": "PV100", "SN": "0001"},
            103: {"W_SF": 1, "W": 0},
            123: {"WMaxLimPct_SF": -1, "WMaxLimPct": 1000, "WMaxLim_Ena": 0},
            701: {"W_SF": 1, "W": 0, "Var_SF": 1, "Var": -1250, "V_SF": -1, "LNV": 2301},
            703: {"ES": 1},
            705: {"Ena": 1},
            702: {"W_SF": 1, "WMaxRtg": rated_w // 10, "WMax": rated_w // 10},
            704: {"WMaxLimPct_SF": -1, "WMaxLimPct": 1000, "WMaxLimPctEna": 0},
            713: {"Pct_SF": -1, "SoC": 655},
        }
        self.addresses: dict[int, int] = {}
        layout = [0x5375, 0x6E53]
        for mid in models:
            model = _model(mid, initial.get(mid, {}))
            self.addresses[mid] = BASE + len(layout)
            layout += _regs(model.get_mb())
        layout += [0xFFFF, 0]
        self.registers = layout
        self.lock = threading.Lock()
        self.port = 0
        self._server: ThreadedModbusServer | None = None

    # --- the model values, decoded by pysunspec2 -----------------------------------

    def model(self, mid: int) -> Any:
        """Model ``mid`` as the device holds it now (decoded by pysunspec2)."""
        with self.lock:
            return self._decode(mid)

    def _decode(self, mid: int) -> Any:
        start = self.addresses[mid] - BASE
        length = self.registers[start + 1]
        data = b"".join(r.to_bytes(2, "big") for r in self.registers[start : start + length + 2])
        return ss.Model(model_id=mid, model_addr=self.addresses[mid], model_len=length, data=data)

    def _set(self, mid: int, name: str, raw: int) -> None:
        point = self._decode(mid).points[name]
        self.registers[self.addresses[mid] - BASE + point.offset] = raw & 0xFFFF

    def limit_w(self) -> float:
        for mid, enabled in ((704, "WMaxLimPctEna"), (123, "WMaxLim_Ena")):
            if mid in self.addresses:
                model = self._decode(mid)
                if model.points[enabled].value == 1:
                    return float(model.points["WMaxLimPct"].cvalue) * self.rated_w / 100
        return float(self.rated_w)

    async def _action(
        self,
        _fc: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> None:
        with self.lock:
            if values is not None:
                self.registers[address - BASE : address - BASE + count] = [int(v) for v in values]
            watts = min(self.available_w, self.limit_w())
            for mid in (701, 103):
                if mid in self.addresses:
                    sf = self._decode(mid).points["W_SF"].value
                    self._set(mid, "W", round(watts / 10**sf))
            registers[: len(self.registers)] = self.registers

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> SunSpecInverter:
        device = SimDevice(
            self.unit_id,
            simdata=[SimData(BASE, values=list(self.registers), datatype=DataType.REGISTERS)],
            action=self._action,
        )
        self._server = ThreadedModbusServer(device, self.port).start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        """Power off: stop listening and drop the connections."""
        if self._server is not None:
            self._server.stop()
            self._server = None

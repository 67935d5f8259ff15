"""A SunSpec device behind the bridge: model discovery and the points the bridge needs.

Discovery (on the first read, and again after the device was unreachable): the 'SunS'
marker at the configured base address (or 40000, 0, 50000), then the chain of models,
each ``ID, L`` followed by ``L`` registers, to the end marker 0xFFFF. The models are
decoded and encoded by pysunspec2 from its own model definitions (points, offsets, scale
factors ``*_SF``); the registers travel with pymodbus.

What the bridge uses:

- measured power ``W``: model 701 (DERMeasureAC, IEEE 1547-2018), else 103/102/101
  (inverter);
- the power limit: model 704 (DERCtlAC: ``WMaxLimPctEna``, ``WMaxLimPct``), else 123
  (controls: ``WMaxLim_Ena``, ``WMaxLimPct``) — in percent of the rated power;
- rated power: ``device_map.sunspec.rated_kw``, else ``WMaxRtg`` of model 702
  (DERCapacity), else ``WRtg`` of model 120;
- state of charge, when present: ``SoC`` of model 713, else ``ChaState`` of model 124;
- published as read, when present: reactive power, voltage and frequency (701), the
  enter-service permission ``ES`` (703) and whether volt-var is enabled (705).

The setpoint is a power limit in kW (0 .. rated); its read-back is the limit in force
(the rated power when the limit is not enabled). Every discovered model is published as
present (``sunspec_model_<id>`` = 1); the bridge writes only the power limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sunspec2 import device as ss

from gridaios_bridge.config import SunSpecConfig
from gridaios_bridge.device import Reading
from gridaios_bridge.modbus import ModbusClient, ModbusError

__all__ = ["ModelRef", "SunSpecDevice", "discover"]

log = logging.getLogger(__name__)
SUNS = [0x5375, 0x6E53]  # 'SunS'
END = 0xFFFF
BASES = (40000, 0, 50000)
MAX_MODELS = 200
MEASURE_MODELS = (701, 103, 102, 101)
SOC_MODELS = ((713, "SoC"), (124, "ChaState"))
# Read-only points published as <device>.<name> when the model is present and the point
# implemented: (model, point, name, unit, factor to the unit).
PUBLISHED = (
    (701, "Var", "q_kvar", "kvar", 0.001),
    (701, "LNV", "v_ln_v", "V", 1.0),
    (701, "Hz", "f_hz", "Hz", 1.0),
    (703, "ES", "enter_service", "", 1.0),  # DEREnterService: 1 = permitted
    (705, "Ena", "volt_var_enabled", "", 1.0),  # DERVoltVar: 1 = the curve is active
)


@dataclass(frozen=True, slots=True)
class ModelRef:
    model_id: int
    address: int  # of its ID register
    length: int  # L: registers after ID and L


def discover(client: ModbusClient, base_address: int | None = None) -> list[ModelRef]:
    """The model chain of the device, or ModbusError saying why there is none."""
    tried: list[int] = []
    for base in (base_address,) if base_address is not None else BASES:
        tried.append(base)
        try:
            marker = client.read_holding(base, 2)
        except ModbusError:
            if base_address is not None:
                raise
            continue
        if marker == SUNS:
            return _chain(client, base + 2)
    raise ModbusError(
        f"no SunSpec marker 'SunS' at register {', '.join(map(str, tried))}: not a SunSpec "
        "device, or set device_map.sunspec.base_address"
    )


def _chain(client: ModbusClient, address: int) -> list[ModelRef]:
    models: list[ModelRef] = []
    while len(models) < MAX_MODELS:
        model_id, length = client.read_holding(address, 2)
        if model_id == END:
            return models
        models.append(ModelRef(model_id, address, length))
        address += 2 + length
    raise ModbusError(f"SunSpec model chain longer than {MAX_MODELS} models: no end marker")


class SunSpecDevice:
    has_safe_mode = False

    def __init__(self, client: ModbusClient, cfg: SunSpecConfig) -> None:
        self.client = client
        self.cfg = cfg
        self.models: dict[int, ModelRef] = {}
        self.rated_kw: float | None = None
        self._pct_sf = 0  # WMaxLimPct_SF: the limit's resolution is 10**sf %

    # --- discovery --------------------------------------------------------------

    def _ensure(self) -> None:
        if self.models:
            return
        chain = discover(self.client, self.cfg.base_address)
        models = {m.model_id: m for m in reversed(chain)}  # the first of each id wins
        if not any(mid in models for mid in MEASURE_MODELS):
            raise ModbusError(
                f"SunSpec device has models {sorted(models)}: none measures power "
                f"({', '.join(map(str, MEASURE_MODELS))})"
            )
        control = self._control_of(models)
        self.models = models
        self.rated_kw = self.cfg.rated_kw or self._rated_from_device()
        self._pct_sf = int(self._model(control).points["WMaxLimPct_SF"].value or 0)
        log.info(
            "SunSpec device: models %s, control by model %d, rated %.3f kW",
            [m.model_id for m in chain],
            control,
            self.rated_kw,
        )

    def _control_of(self, models: dict[int, ModelRef]) -> int:
        wanted = (704, 123) if self.cfg.control == "auto" else (int(self.cfg.control),)
        for mid in wanted:
            if mid in models:
                return mid
        raise ModbusError(
            f"SunSpec device has models {sorted(models)}: no power limit control "
            f"(model {' or '.join(map(str, wanted))})"
        )

    def _rated_from_device(self) -> float:
        for mid, point in ((702, "WMaxRtg"), (120, "WRtg")):
            if mid in self.models:
                watts = self._model(mid).points[point].cvalue
                if watts:
                    return float(watts) / 1000
        raise ModbusError(
            "SunSpec device has no rated power (model 702 WMaxRtg or 120 WRtg): set "
            "device_map.sunspec.rated_kw"
        )

    def _model(self, model_id: int) -> Any:
        ref = self.models[model_id]
        regs = self.client.read_holding(ref.address, ref.length + 2)
        data = b"".join(r.to_bytes(2, "big") for r in regs)
        return ss.Model(model_id=model_id, model_addr=ref.address, model_len=ref.length, data=data)

    # --- the bridge's device surface --------------------------------------------

    def read(self) -> Reading:
        try:
            self._ensure()
            return self._read()
        except ModbusError:
            self.models = {}  # rediscover once it answers again (it may have restarted)
            raise

    def _read(self) -> Reading:
        decoded: dict[int, Any] = {}  # each model read once per cycle

        def model(mid: int) -> Any:
            if mid not in decoded:
                decoded[mid] = self._model(mid)
            return decoded[mid]

        measure = next(mid for mid in MEASURE_MODELS if mid in self.models)
        watts = model(measure).points["W"].cvalue
        if watts is None:
            raise ModbusError(f"SunSpec model {measure}: W is not implemented")
        soc: float | None = None
        for mid, point in SOC_MODELS:
            if mid in self.models:
                value = model(mid).points[point].cvalue
                soc = None if value is None else float(value)
                break
        extra = [(f"sunspec_model_{mid}", 1.0, "") for mid in sorted(self.models)]
        for mid, point, name, unit, factor in PUBLISHED:
            if mid in self.models:
                value = model(mid).points[point].cvalue
                if value is not None:
                    extra.append((name, float(value) * factor, unit))
        return Reading(
            setpoint_kw=self._limit_kw(model(self._control_of(self.models))),
            safe_mode=False,
            measured_kw=float(watts) / 1000,
            soc_pct=soc,
            extra=tuple(extra),
        )

    def _limit_kw(self, model: Any) -> float:
        control = self._control_of(self.models)
        enabled_point = "WMaxLimPctEna" if control == 704 else "WMaxLim_Ena"
        pct = model.points["WMaxLimPct"].cvalue
        assert self.rated_kw is not None
        if model.points[enabled_point].value != 1 or pct is None:
            return self.rated_kw
        return round(float(pct) * self.rated_kw / 100, 6)

    def write(self, setpoint_kw: float, safe_mode: bool, safe_default_kw: float) -> None:
        try:
            self._ensure()
            self._write(safe_default_kw if safe_mode else setpoint_kw)
        except ModbusError:
            self.models = {}
            raise

    def _write(self, kw: float) -> None:
        control = self._control_of(self.models)
        model = self._model(control)
        limit = model.points["WMaxLimPct"]
        limit.cvalue = self._pct(kw)
        enabled = model.points["WMaxLimPctEna" if control == 704 else "WMaxLim_Ena"]
        enabled.value = 1
        base = self.models[control].address
        for point in (limit, enabled):  # the limit first, then enable it
            regs = _registers(point.get_mb())
            self.client.write_multiple(base + point.offset, regs)

    def _pct(self, kw: float) -> float:
        assert self.rated_kw is not None
        return max(0.0, min(100.0, kw / self.rated_kw * 100))

    def quantize(self, setpoint_kw: float) -> float:
        if self.rated_kw is None:
            return setpoint_kw
        step = 10.0**self._pct_sf
        pct = round(self._pct(setpoint_kw) / step) * step
        return round(pct * self.rated_kw / 100, 6)

    def close(self) -> None:
        self.client.close()


def _registers(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]

"""Bridge configuration: read, validate, refuse with the field and the fix."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml

__all__ = [
    "BridgeConfig",
    "ConfigError",
    "DeviceConfig",
    "EmulatorConfig",
    "FailsafeConfig",
    "LimitsConfig",
    "ModbusConfig",
    "MqttConfig",
    "RegisterPoint",
    "SunSpecConfig",
    "load_config",
]


class ConfigError(ValueError):
    """The config is invalid: refuse to start. The message names the field and the fix."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = ""
    keepalive_s: int = 10
    reconnect_max_s: float = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ModbusConfig:
    host: str = "127.0.0.1"
    port: int = 1502
    unit_id: int = 1
    timeout_s: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterPoint:
    """One point of a declared map: ``value = raw * scale`` in ``unit``."""

    address: int
    type: str = "int16"  # int16 | uint16 | int32 | uint32 | float32
    word_order: Literal["big", "little"] = "big"  # of the two words of a 32-bit value
    scale: float = 1.0
    function: Literal["holding", "input"] = "holding"  # read with fc 3 or fc 4
    unit: str = ""

    @property
    def words(self) -> int:
        return 1 if self.type in ("int16", "uint16") else 2


@dataclass(frozen=True, slots=True, kw_only=True)
class SunSpecConfig:
    base_address: int | None = None  # None: look for 'SunS' at 40000, 0, then 50000
    rated_kw: float | None = None  # None: WMaxRtg of model 702 (or WRtg of model 120)
    control: Literal["auto", "704", "123"] = "auto"  # auto: 704 (IEEE 1547-2018) if present


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceConfig:
    map: Literal["battery", "registers", "sunspec"] = "battery"
    registers: dict[str, RegisterPoint] = field(default_factory=dict)
    sunspec: SunSpecConfig = field(default_factory=SunSpecConfig)


@dataclass(frozen=True, slots=True, kw_only=True)
class FailsafeConfig:
    heartbeat_timeout_s: float = 5.0
    safe_default_kw: float = 0.0
    min_hold_s: float = 30.0
    revert_on_expiry: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitsConfig:
    min_kw: float
    max_kw: float
    ramp_kw_per_s: float = 0.0  # 0 disables the ramp limit


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorConfig:
    capacity_kwh: float = 500.0
    initial_soc_pct: float = 80.0
    rated_kw: float = 250.0
    response_time_s: float = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeConfig:
    site: str
    device: str
    mqtt: MqttConfig
    modbus: ModbusConfig
    failsafe: FailsafeConfig
    limits: LimitsConfig
    emulator: EmulatorConfig
    state_dir: Path
    device_map: DeviceConfig = field(default_factory=DeviceConfig)
    cycle_s: float = 0.5
    spool_max_messages: int = 10_000
    fsync: bool = True

    @property
    def setpoint_point(self) -> str:
        return f"{self.device}.p_setpoint_kw"


def load_config(path: Path) -> BridgeConfig:
    """Read and validate ``path`` (YAML subset or JSON)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the bridge config: {err.strerror}") from err
    data = loads(text, source=str(path))
    return parse_config(data, source=str(path), base_dir=path.parent)


def loads(text: str, *, source: str) -> dict[str, Any]:
    """YAML (PyYAML's safe loader; JSON is YAML too) -> the top-level mapping, or a
    ConfigError naming the file, the line and the problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML: {problem}") from err
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the bridge config must be a mapping of sections, not {type(data).__name__}"
        )
    return data


def parse_config(data: dict[str, Any], *, source: str, base_dir: Path) -> BridgeConfig:
    r = _Reader(data, source, "")
    site = r.text("site")
    device = r.text("device")
    state_dir = Path(r.text("state_dir"))
    cfg = BridgeConfig(
        site=site,
        device=device,
        mqtt=_mqtt(r.section("mqtt")),
        modbus=_modbus(r.section("modbus")),
        failsafe=_failsafe(r.section("failsafe")),
        limits=_limits(r.section("limits", required=True)),
        emulator=_emulator(r.section("emulator")),
        device_map=_device_map(r.section("device_map")),
        state_dir=state_dir if state_dir.is_absolute() else base_dir / state_dir,
        cycle_s=r.number("cycle_s", 0.5, minimum=0.01),
        spool_max_messages=r.integer("spool_max_messages", 10_000, minimum=1),
        fsync=r.boolean("fsync", True),
    )
    r.done()
    if cfg.device_map.map == "sunspec" and cfg.limits.min_kw < 0:
        raise ConfigError(
            f"{source}: limits.min_kw = {cfg.limits.min_kw}: must be >= 0 with device_map.map "
            "= sunspec (a SunSpec power limit is 0..100 % of the rated power)"
        )
    if cfg.device_map.map == "registers":
        _setpoint_fits(source, cfg)
    for name, value in (("site", site), ("device", device)):
        if not value or any(c in value for c in "/+#"):
            raise ConfigError(f"{source}: {name} = {value!r}: must be non-empty without / + #")
    return cfg


def _mqtt(r: _Reader) -> MqttConfig:
    cfg = MqttConfig(
        host=r.text("host", "127.0.0.1"),
        port=r.integer("port", 1883, minimum=1, maximum=65535),
        client_id=r.text("client_id", ""),
        keepalive_s=r.integer("keepalive_s", 10, minimum=1),
        reconnect_max_s=r.number("reconnect_max_s", 5.0, minimum=0.1),
    )
    r.done()
    return cfg


def _modbus(r: _Reader) -> ModbusConfig:
    cfg = ModbusConfig(
        host=r.text("host", "127.0.0.1"),
        port=r.integer("port", 1502, minimum=1, maximum=65535),
        unit_id=r.integer("unit_id", 1, minimum=0, maximum=255),
        timeout_s=r.number("timeout_s", 1.0, minimum=0.01),
    )
    r.done()
    return cfg


def _failsafe(r: _Reader) -> FailsafeConfig:
    cfg = FailsafeConfig(
        heartbeat_timeout_s=r.number("heartbeat_timeout_s", 5.0, minimum=0.05),
        safe_default_kw=r.number("safe_default_kw", 0.0),
        min_hold_s=r.number("min_hold_s", 30.0, minimum=0.0),
        revert_on_expiry=r.boolean("revert_on_expiry", True),
    )
    r.done()
    return cfg


def _limits(r: _Reader) -> LimitsConfig:
    cfg = LimitsConfig(
        min_kw=r.number("min_kw"),
        max_kw=r.number("max_kw"),
        ramp_kw_per_s=r.number("ramp_kw_per_s", 0.0, minimum=0.0),
    )
    r.done()
    if cfg.min_kw > cfg.max_kw:
        raise ConfigError(
            f"{r.source}: limits.min_kw = {cfg.min_kw} > limits.max_kw = {cfg.max_kw}: "
            "min_kw must be <= max_kw"
        )
    return cfg


_DATA_TYPES = ("int16", "uint16", "int32", "uint32", "float32")
_RAW_RANGE = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "float32": (-3.4e38, 3.4e38),
}


def _setpoint_fits(source: str, cfg: BridgeConfig) -> None:
    """Writes saturate at the register's range (they never wrap), so a limit or the safe
    default outside it would be written as another setpoint than the one commanded (a
    -250 kW discharge to a uint16 register as 0 kW): refused here, naming both."""
    point = cfg.device_map.registers["p_setpoint_kw"]
    low, high = _RAW_RANGE[point.type]
    for name, kw in (
        ("limits.min_kw", cfg.limits.min_kw),
        ("limits.max_kw", cfg.limits.max_kw),
        ("failsafe.safe_default_kw", cfg.failsafe.safe_default_kw),
    ):
        raw = kw / point.scale
        if not low <= round(raw) <= high:
            raise ConfigError(
                f"{source}: {name} = {kw:g} is raw {raw:g} in device_map.registers."
                f"p_setpoint_kw ({point.type}, scale {point.scale:g}), outside [{low:g}, "
                f"{high:g}]: the register cannot carry it; fix the type or scale, or the limit"
            )


_REQUIRED_POINTS = ("p_kw", "p_setpoint_kw")


def _device_map(r: _Reader) -> DeviceConfig:
    kind = r.choice("map", ("battery", "registers", "sunspec"), "battery")
    points_section = r.section("registers")
    sunspec_section = r.section("sunspec")
    r.done()
    points: dict[str, RegisterPoint] = {}
    for name in sorted(points_section.data):
        points[name] = _register_point(points_section.section(name, required=True))
    points_section.done()
    if kind == "registers":
        for name in _REQUIRED_POINTS:
            if name not in points:
                raise ConfigError(
                    f"{r.source}: device_map.registers.{name} is required with map = registers; "
                    "add its address and type"
                )
        setpoint = points["p_setpoint_kw"]
        if setpoint.function != "holding":
            raise ConfigError(
                f"{r.source}: device_map.registers.p_setpoint_kw.function = "
                f"{setpoint.function!r}: must be 'holding' (input registers cannot be written)"
            )
    elif points:
        raise ConfigError(
            f"{r.source}: device_map.registers is set but map = {kind!r}: set map: registers "
            "or remove the registers"
        )
    return DeviceConfig(map=kind, registers=points, sunspec=_sunspec(sunspec_section))  # type: ignore[arg-type]


def _register_point(r: _Reader) -> RegisterPoint:
    point = RegisterPoint(
        address=r.integer("address", minimum=0, maximum=65535),
        type=r.choice("type", _DATA_TYPES, "int16"),
        word_order=cast(Literal["big", "little"], r.choice("word_order", ("big", "little"), "big")),
        scale=r.number("scale", 1.0),
        function=cast(
            Literal["holding", "input"], r.choice("function", ("holding", "input"), "holding")
        ),
        unit=r.text("unit", ""),
    )
    r.done()
    if point.scale == 0:
        raise r._bad("scale", 0, "must not be 0")
    if point.address + point.words > 65536:
        raise r._bad("address", point.address, f"a {point.type} there ends past register 65535")
    return point


def _sunspec(r: _Reader) -> SunSpecConfig:
    base = r._get("base_address", None)
    if base is not None:
        base = r.integer("base_address", minimum=0, maximum=65534)
    rated = r._get("rated_kw", None)
    if rated is not None:
        rated = r.number("rated_kw", minimum=0.001)
    cfg = SunSpecConfig(
        base_address=base,
        rated_kw=rated,
        control=cast(
            Literal["auto", "704", "123"], r.choice("control", ("auto", "704", "123"), "auto")
        ),
    )
    r.done()
    return cfg


def _emulator(r: _Reader) -> EmulatorConfig:
    cfg = EmulatorConfig(
        capacity_kwh=r.number("capacity_kwh", 500.0, minimum=0.001),
        initial_soc_pct=r.number("initial_soc_pct", 80.0, minimum=0.0, maximum=100.0),
        rated_kw=r.number("rated_kw", 250.0, minimum=0.0),
        response_time_s=r.number("response_time_s", 0.5, minimum=0.0),
    )
    r.done()
    return cfg


_MISSING = object()


class _Reader:
    """Reads typed fields from one mapping; ``done()`` refuses unknown keys."""

    def __init__(self, data: dict[str, Any], source: str, prefix: str) -> None:
        self.data, self.source, self.prefix = data, source, prefix
        self.seen: set[str] = set()

    def _get(self, key: str, default: object) -> object:
        self.seen.add(key)
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise ConfigError(f"{self.source}: {self.prefix}{key} is required; add it")
            return default
        return value

    def _bad(self, key: str, value: object, need: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.prefix}{key} = {value!r}: {need}")

    def section(self, key: str, required: bool = False) -> _Reader:
        value = self._get(key, _MISSING if required else {})
        if not isinstance(value, dict):
            raise self._bad(key, value, "must be a mapping")
        return _Reader(value, self.source, f"{self.prefix}{key}.")

    def text(self, key: str, default: object = _MISSING) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self._bad(key, value, "must be a string")
        return value

    def boolean(self, key: str, default: object = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self._bad(key, value, "must be true or false")
        return value

    def number(
        self,
        key: str,
        default: object = _MISSING,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._bad(key, value, "must be a number")
        if not math.isfinite(value):
            raise self._bad(key, value, "must be finite")
        if minimum is not None and value < minimum:
            raise self._bad(key, value, f"must be >= {minimum}")
        if maximum is not None and value > maximum:
            raise self._bad(key, value, f"must be <= {maximum}")
        return float(value)

    def choice(self, key: str, options: tuple[str, ...], default: object = _MISSING) -> str:
        value = self._get(key, default)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # `control: 704` reads as a number in YAML
        if value not in options:
            raise self._bad(key, value, f"must be one of {', '.join(options)}")
        assert isinstance(value, str)
        return value

    def integer(
        self, key: str, default: object = _MISSING, minimum: int = 0, maximum: int | None = None
    ) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(key, value, "must be an integer")
        if value < minimum or (maximum is not None and value > maximum):
            raise self._bad(key, value, f"must be in [{minimum}, {maximum or 'inf'}]")
        return value

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise ConfigError(
                f"{self.source}: unknown key {self.prefix}{unknown[0]}: remove it or fix the "
                f"spelling (known: {', '.join(sorted(self.seen))})"
            )

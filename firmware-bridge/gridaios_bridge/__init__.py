"""gridaios-bridge: the device-side bridge (Modbus TCP device <-> gridaios MQTT wire format v1).

A standalone program: it depends on paho-mqtt, pymodbus, PyYAML and pysunspec2, and of
gridaios only on ``gridaios_wire`` (the wire formats, shipped with it). The wire formats
are specified in docs/wire-format.md; PROTOCOL.md describes the bridge's behaviour.
"""

from typing import TYPE_CHECKING, Any

from gridaios_bridge.bridge import Bridge
from gridaios_bridge.config import BridgeConfig, ConfigError, load_config

if TYPE_CHECKING:
    from gridaios_bridge.emulator import EmulatedInverter

__all__ = ["Bridge", "BridgeConfig", "ConfigError", "EmulatedInverter", "load_config"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The emulated device needs pymodbus's server (about 15 MiB); the bridge does not.
    if name == "EmulatedInverter":
        from gridaios_bridge.emulator import EmulatedInverter

        return EmulatedInverter
    raise AttributeError(f"module 'gridaios_bridge' has no attribute {name!r}")

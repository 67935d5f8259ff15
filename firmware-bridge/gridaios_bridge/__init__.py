"""gridaios-bridge: the device-side bridge (Modbus TCP device <-> gridaios MQTT wire format v1).

A standalone program: it depends on paho-mqtt and the standard library only, and
imports nothing from the gridaios runtime. PROTOCOL.md is the wire contract.
"""

from gridaios_bridge.bridge import Bridge
from gridaios_bridge.config import BridgeConfig, ConfigError, load_config
from gridaios_bridge.emulator import EmulatedInverter

__all__ = ["Bridge", "BridgeConfig", "ConfigError", "EmulatedInverter", "load_config"]
__version__ = "0.1.0"

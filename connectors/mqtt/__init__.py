"""MQTT connector (paho-mqtt 2.x): gridaios JSON wire format v1 and Sparkplug B.

The client (and paho) loads on first use, so code that only reads configs (the site
config's models, the pure decision layer) stays free of network libraries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.mqtt.config import MqttSourceConfig, MqttTlsConfig

if TYPE_CHECKING:
    from connectors.mqtt.client import MqttClient

__all__ = ["MqttClient", "MqttSourceConfig", "MqttTlsConfig"]


def __getattr__(name: str) -> Any:
    if name == "MqttClient":
        from connectors.mqtt.client import MqttClient

        return MqttClient
    raise AttributeError(name)

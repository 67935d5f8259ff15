"""MQTT connector (paho-mqtt 2.x): gridaios JSON wire format v1 and Sparkplug B."""

from connectors.mqtt.client import MqttClient
from connectors.mqtt.config import MqttSourceConfig, MqttTlsConfig

__all__ = ["MqttClient", "MqttSourceConfig", "MqttTlsConfig"]

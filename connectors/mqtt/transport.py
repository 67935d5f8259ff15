"""A paho-mqtt 2.x client set up from a source config: protocol, session, TLS, will, back-off."""

from __future__ import annotations

import logging
import math
import ssl

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from connectors.mqtt.config import MqttSourceConfig
from connectors.mqtt.wire import Publish

log = logging.getLogger(__name__)


def make_paho(c: MqttSourceConfig, will: Publish | None) -> paho.Client:
    v5 = c.protocol == "5"
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=c.resolved_client_id(),
        protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
        clean_session=None if v5 else c.clean_session,  # 3.1.1: persistent unless asked
    )
    if c.username is not None:
        client.username_pw_set(c.username, c.resolved_password())
    if c.tls is not None:
        client.tls_set(
            ca_certs=str(c.tls.ca_file),
            certfile=str(c.tls.cert_file) if c.tls.cert_file else None,
            keyfile=str(c.tls.key_file) if c.tls.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    else:
        log.warning(
            "MQTT source %s: connecting to %s:%d WITHOUT TLS (allow_insecure is set); "
            "credentials and commands travel in clear text",
            c.id,
            c.host,
            c.port,
        )
    if will is not None:
        client.will_set(will.topic, will.payload, qos=1, retain=will.retain)
    client.reconnect_delay_set(
        min_delay=max(1, math.ceil(c.reconnect_min_s)), max_delay=math.ceil(c.reconnect_max_s)
    )
    client.max_queued_messages_set(c.queue_messages)  # outgoing; commands are also spooled
    return client

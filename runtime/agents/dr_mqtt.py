"""DR events over MQTT: subscribe to ``gridaios/v1/<site>/dr/event`` and fill the inbox.

The paho network thread only copies bytes into the thread-safe ``DrInbox``; the
conductor's loop drains it, runs ``accept_dr_event`` and records the outcome, so
every event-log write stays on one thread. The client reconnects on its own
(paho's loop); a lost broker means no new DR events, never a wrong dispatch.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from runtime.agents.dr import DrInbox

log = logging.getLogger(__name__)


def dr_topic(site_id: str) -> str:
    return f"gridaios/v1/{site_id}/dr/event"


class DrSubscriber:
    def __init__(self, inbox: DrInbox, *, host: str, port: int, topic: str, client_id: str) -> None:
        self.inbox = inbox
        self.topic = topic
        self.subscribed = threading.Event()
        self._host = host
        self._port = port
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)

    def start(self) -> None:
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    # --- paho's network thread ------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("DR events: MQTT connect to %s:%d refused: %s", self._host, self._port, rc)
            return
        client.subscribe(self.topic, qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: Any, _rc: Any, _p: Any) -> None:
        log.info("DR events: subscribed to %s", self.topic)
        self.subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put(bytes(msg.payload), via=f"mqtt:{msg.topic}")

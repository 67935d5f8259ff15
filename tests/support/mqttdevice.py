"""A device on the MQTT wire, for tests: a plain paho client that publishes and records."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion


class Device:
    """Connects to a broker, publishes raw payloads with QoS 1, records what it receives."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str = "test-device",
        subscribe: tuple[str, ...] = (),
        tls: dict[str, Any] | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.on_message: Callable[[Device, str, bytes], None] | None = None
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls is not None:
            self.client.tls_set(**tls)
        self.client.on_message = self._message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect(host, port, 30)
        self.client.loop_start()
        for topic in subscribe:
            self._subscribed.clear()
            self.client.subscribe(topic, qos=1)
            if not self._subscribed.wait(10):
                raise RuntimeError(f"subscription to {topic} not confirmed")

    def _message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, msg.payload))
        if self.on_message is not None:
            self.on_message(self, msg.topic, msg.payload)

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)

    def publish_json(self, topic: str, body: Any) -> None:
        self.publish(topic, json.dumps(body))

    def wait_for(
        self, predicate: Callable[[list[tuple[str, bytes]]], bool], timeout_s: float = 10
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(list(self.received)):
                    return
            time.sleep(0.01)
        raise AssertionError(f"condition not met within {timeout_s} s; received {self.received!r}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

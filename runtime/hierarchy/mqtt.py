"""One paho-mqtt session for a hierarchy role: publish, subscribe, last will, reconnect.

Built with the connectors' ``make_paho`` (credentials, TLS, will, back-off). The
session never blocks its owner: ``start()`` returns at once and paho keeps
(re)connecting in its thread; messages are handed to the asyncio loop's thread.
Subscriptions are renewed on every (re)connect, and ``on_connect`` callbacks
run there too, so an owner can republish its retained state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from connectors.mqtt import MqttSourceConfig
from connectors.mqtt.transport import make_paho
from connectors.mqtt.wire import Publish
from runtime.config.model import BrokerConfig
from runtime.core.errors import ConfigError, ConfigIssue

log = logging.getLogger(__name__)

OnMessage = Callable[[str, bytes], None]


class Session:
    def __init__(
        self,
        broker: BrokerConfig,
        *,
        client_id: str,
        will: Publish,
        subscriptions: list[str],
        on_message: OnMessage,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self._subscriptions = subscriptions
        self._on_message = on_message
        self._on_connect_cb = on_connect
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connected = asyncio.Event()
        self._was_connected = False
        source = MqttSourceConfig(
            id="hierarchy",
            host=broker.host,
            port=broker.port,
            site="hierarchy",
            client_id=client_id,
            username=broker.username,
            password=broker.password,
            password_env=broker.password_env,
            tls=broker.tls,
            allow_insecure=broker.allow_insecure,
            keepalive_s=broker.keepalive_s,
            reconnect_min_s=broker.reconnect_min_s,
            reconnect_max_s=broker.reconnect_max_s,
            session_expiry_s=0,
        )
        self._source = source
        try:
            self._paho = make_paho(source, will)
        except ValueError as err:  # password_env not set: refuse to start, say which
            issue = ConfigIssue(
                "hierarchy.broker.password_env", broker.password_env or "", str(err)
            )
            raise ConfigError("hierarchy", [issue]) from err
        self._paho.on_connect = self._connected
        self._paho.on_disconnect = self._disconnected
        self._paho.on_message = self._message

    def start(self) -> None:
        """Connect in the background (retrying with back-off until ``stop``)."""
        self._loop = asyncio.get_running_loop()
        self._paho.connect_async(self.broker.host, self.broker.port, self.broker.keepalive_s)
        self._paho.loop_start()

    async def stop(self, farewell: Publish | None = None) -> None:
        """Disconnect cleanly (after ``farewell``, e.g. an offline status: no will then)."""
        if farewell is not None and self.connected.is_set():
            info = self._paho.publish(
                farewell.topic, farewell.payload, qos=1, retain=farewell.retain
            )
            await asyncio.to_thread(info.wait_for_publish, 2.0)
        self._paho.disconnect()
        await asyncio.to_thread(self._paho.loop_stop)

    def publish(self, message: Publish) -> bool:
        """Send one QoS 1 message; False when not connected (paho may still queue it)."""
        info = self._paho.publish(message.topic, message.payload, qos=1, retain=message.retain)
        return info.rc == paho.MQTT_ERR_SUCCESS

    # --- paho's thread -------------------------------------------------------

    def _connected(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning(
                "hierarchy MQTT %s: broker %s:%d refused: %s",
                self.client_id,
                self.broker.host,
                self.broker.port,
                reason,
            )
            return
        for topic in self._subscriptions:
            client.subscribe(topic, qos=1)
        if self._was_connected:
            log.warning(
                "hierarchy MQTT %s: reconnected to %s:%d",
                self.client_id,
                self.broker.host,
                self.broker.port,
            )
        self._was_connected = True
        self._call(self._after_connect)

    def _disconnected(self, _c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._call(self.connected.clear)
        if reason.is_failure:
            log.warning("hierarchy MQTT %s: lost the broker: %s", self.client_id, reason)

    def _message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        self._call(self._on_message, message.topic, bytes(message.payload))

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn, *args)

    def _after_connect(self) -> None:
        self.connected.set()
        if self._on_connect_cb is not None:
            self._on_connect_cb()

"""Sends spooled telemetry in order: one message in flight, the next only after its PUBACK."""

from __future__ import annotations

import logging
from collections.abc import Callable

import paho.mqtt.client as mqtt

from gridaios_bridge.spool import Spool

__all__ = ["INFLIGHT_RESEND_S", "Forwarder"]

log = logging.getLogger(__name__)
# A message unacknowledged this long while connected is published again (a duplicate
# at worst, never a gap or a reordering).
INFLIGHT_RESEND_S = 30.0


class Forwarder:
    """Owned by the bridge's main thread. ``publish`` is paho's, bound to the topic.

    After a disconnect paho itself re-sends the message in flight on reconnect (QoS 1),
    so the forwarder only stops taking new ones until it is told it is connected again.
    """

    def __init__(
        self,
        spool: Spool,
        publish: Callable[[bytes], mqtt.MQTTMessageInfo],
        monotonic: Callable[[], float],
    ) -> None:
        self.spool = spool
        self._publish = publish
        self._monotonic = monotonic
        self.connected = False
        # (seq, mid, monotonic publish time) of the one message in flight
        self.inflight: tuple[int, int, float] | None = None

    def on_puback(self, mid: int) -> None:
        if self.inflight is not None and self.inflight[1] == mid:
            self.spool.remove(self.inflight[0])
            self.inflight = None
            self.pump()

    def pump(self) -> None:
        """Publish the oldest spooled message unless one is in flight."""
        if not self.connected:
            return
        if self.inflight is not None:
            if self._monotonic() - self.inflight[2] < INFLIGHT_RESEND_S:
                return
            log.warning(
                "telemetry seq %d unacknowledged for %.0f s: publishing it again",
                self.inflight[0],
                INFLIGHT_RESEND_S,
            )
        item = self.spool.oldest()
        if item is None:
            self.inflight = None
            return
        seq, payload = item
        info = self._publish(payload)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            self.inflight = None  # paho's queue is full; the message stays spooled
            return
        self.inflight = (seq, info.mid, self._monotonic())

"""The forwarder's sending rules, with an on-disk spool and paho's own message-info type."""

from __future__ import annotations

import paho.mqtt.client as mqtt
from gridaios_bridge.forwarder import INFLIGHT_RESEND_S, Forwarder
from gridaios_bridge.spool import Spool


class Recorder:
    """Stands in for the broker side of ``client.publish``: records, hands out mids."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.rc = mqtt.MQTT_ERR_SUCCESS

    def __call__(self, payload: bytes) -> mqtt.MQTTMessageInfo:
        self.sent.append(payload)
        info = mqtt.MQTTMessageInfo(len(self.sent))
        info.rc = self.rc
        return info


def _setup(tmp_path, n=3):
    spool = Spool(tmp_path, max_messages=100, fsync=False)
    for _ in range(n):
        spool.append(lambda seq: f"m{seq}".encode())
    now = {"t": 0.0}
    pub = Recorder()
    return spool, pub, now, Forwarder(spool, pub, lambda: now["t"])


def test_one_in_flight_next_only_after_puback(tmp_path):
    spool, pub, _, fwd = _setup(tmp_path)
    fwd.pump()
    assert pub.sent == []  # not connected: nothing leaves the spool
    fwd.connected = True
    fwd.pump()
    fwd.pump()
    assert pub.sent == [b"m1"]
    fwd.on_puback(99)  # someone else's PUBACK (an ack or status message)
    assert pub.sent == [b"m1"]
    fwd.on_puback(1)
    fwd.on_puback(2)
    fwd.on_puback(3)
    assert pub.sent == [b"m1", b"m2", b"m3"]
    assert len(spool) == 0 and fwd.inflight is None


def test_stuck_message_is_sent_again_after_the_resend_interval(tmp_path):
    _, pub, now, fwd = _setup(tmp_path)
    fwd.connected = True
    fwd.pump()
    now["t"] = INFLIGHT_RESEND_S - 1
    fwd.pump()
    assert pub.sent == [b"m1"]
    now["t"] = INFLIGHT_RESEND_S + 1
    fwd.pump()
    assert pub.sent == [b"m1", b"m1"]  # a duplicate, never a skip
    fwd.on_puback(2)
    assert pub.sent[-1] == b"m2"


def test_full_paho_queue_keeps_the_message_spooled(tmp_path):
    spool, pub, _, fwd = _setup(tmp_path, n=1)
    fwd.connected = True
    pub.rc = mqtt.MQTT_ERR_QUEUE_SIZE
    fwd.pump()
    assert fwd.inflight is None and len(spool) == 1
    pub.rc = mqtt.MQTT_ERR_SUCCESS
    fwd.pump()
    fwd.on_puback(2)
    assert len(spool) == 0

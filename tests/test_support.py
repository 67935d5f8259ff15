from __future__ import annotations

import socket

from tests.support.mosquitto import Broker


def test_mosquitto_fixture_listens(mosquitto: Broker) -> None:
    connection = socket.create_connection((mosquitto.host, mosquitto.port), timeout=2)
    connection.close()
    assert mosquitto.process.poll() is None

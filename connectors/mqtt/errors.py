"""paho-mqtt results translated into connector errors that say what to do next."""

from __future__ import annotations

import ssl

from paho.mqtt.reasoncodes import ReasonCode

from connectors.errors import ConnectorAuthFailed, ConnectorError, ConnectorNotReady

# MQTT 5 CONNACK reason codes (and the 3.1.1 return codes paho maps onto them) that
# mean "a human must fix credentials or permissions", not "try again later".
_AUTH_CODES = {
    134: "bad user name or password",
    135: "not authorized",
    138: "banned",
    140: "bad authentication method",
    133: "client identifier not valid",
}


def connack_error(source: str, where: str, code: ReasonCode) -> ConnectorError:
    value = int(code.value)
    if value in _AUTH_CODES:
        return ConnectorAuthFailed(
            f"MQTT source {source}: broker {where} refused the connection "
            f"({_AUTH_CODES[value]}); check username, password, client certificate and ACL"
        )
    return ConnectorNotReady(f"MQTT source {source}: broker {where} refused the connection: {code}")


def socket_error(source: str, where: str, err: Exception) -> ConnectorError:
    if isinstance(err, ssl.SSLError):
        return ConnectorAuthFailed(
            f"MQTT source {source}: TLS handshake with {where} failed ({err.reason or err}); "
            "check tls.ca_file against the broker certificate, and the client certificate"
        )
    return ConnectorNotReady(f"MQTT source {source}: cannot reach broker {where}: {err}")


def subscribe_error(source: str, where: str, topics: list[str]) -> ConnectorError:
    return ConnectorAuthFailed(
        f"MQTT source {source}: broker {where} refused a subscription to "
        f"{', '.join(topics)}; grant read on these topics in the broker ACL"
    )

"""The gridaios JSON wire format v1 as a ``Wire``: topics, telemetry, acks, status.

Topics and every message but telemetry come from ``gridaios_wire.jsonv1`` (the one
definition the bridge and the virtual field use too); telemetry from ``codec``.
"""

from __future__ import annotations

from datetime import datetime

from gridaios_wire import jsonv1 as wire

from connectors.badinput import BadInputReason
from connectors.mqtt import codec
from connectors.mqtt.wire import Ack, DeviceState, Outcome, Publish, Refused, Telemetry
from connectors.points import PointBinding


class JsonWire:
    kind = "mqtt-json"

    def __init__(self, source: str, site: str, points: list[PointBinding], max_batch: int) -> None:
        self.site = site
        self.codec = codec.TelemetryCodec(source, points, max_batch)
        self._runtime = wire.Topics(site=site, device=wire.RUNTIME)

    def subscriptions(self) -> list[str]:
        return wire.subscriptions(self.site)

    def decode(self, topic: str, payload: bytes, received: datetime) -> Outcome:
        if topic == self._runtime.runtime_status:
            return Outcome(None)  # our own status (and last will), retained on the broker
        where = wire.parse_topic(self.site, topic)
        if where is None:
            return Outcome(
                Refused(
                    codec.Problem(
                        BadInputReason.UNKNOWN_TOPIC,
                        f"topic {topic!r} is not gridaios/v1/{self.site}/<device>/"
                        "telemetry|ack|status",
                    )
                )
            )
        if where.kind == "telemetry":
            decoded = self.codec.decode(where.device, payload, received)
            return Outcome(Telemetry(decoded.batch, decoded.problems))
        try:
            if where.kind == "ack":
                ack = wire.decode_ack(payload)
                return Outcome(Ack(ack.key, ack.status, ack.value, ack.reason))
            status = wire.decode_status(payload)
            return Outcome(DeviceState(where.device, status.state))
        except wire.ProtocolError as err:
            reason = BadInputReason.MALFORMED_JSON if err.malformed else BadInputReason.WRONG_TYPE
            detail = f"{where.kind} of {where.device}: {err}"
        return Outcome(Refused(codec.Problem(reason, detail)))

    def command(self, key: str, point: str, value: float, valid_until: datetime) -> Publish:
        device = point.split(".", 1)[0]
        return Publish(
            wire.Topics(site=self.site, device=device).cmd,
            wire.encode_command(key, point, value, valid_until),
        )

    def will(self, now: datetime) -> Publish:
        return Publish(
            self._runtime.runtime_status, wire.encode_status("offline", now), retain=True
        )

    def online(self, now: datetime) -> list[Publish]:
        return [
            Publish(self._runtime.runtime_status, wire.encode_status("online", now), retain=True)
        ]

    def heartbeat(self, seq: int, now: datetime) -> Publish | None:
        return Publish(self._runtime.heartbeat, wire.encode_heartbeat(seq, now))

"""The gridaios JSON wire format v1 as a ``Wire``: topics, telemetry, acks, status."""

from __future__ import annotations

from datetime import datetime

import msgspec

from connectors.badinput import BadInputReason
from connectors.mqtt import codec, topics
from connectors.mqtt.wire import Ack, DeviceState, Outcome, Publish, Refused, Telemetry
from connectors.points import PointBinding


class JsonWire:
    kind = "mqtt-json"

    def __init__(self, source: str, site: str, points: list[PointBinding], max_batch: int) -> None:
        self.site = site
        self.codec = codec.TelemetryCodec(source, points, max_batch)

    def subscriptions(self) -> list[str]:
        return topics.subscriptions(self.site)

    def decode(self, topic: str, payload: bytes, received: datetime) -> Outcome:
        if topic == topics.runtime_status(self.site):
            return Outcome(None)  # our own status (and last will), retained on the broker
        where = topics.parse(self.site, topic)
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
                ack = codec.decode_ack(payload)
                return Outcome(Ack(ack.key, ack.status, ack.value, ack.reason))
            status = codec.decode_status(payload)
            return Outcome(DeviceState(where.device, status.state))
        except msgspec.ValidationError as err:
            reason, detail = BadInputReason.WRONG_TYPE, f"{where.kind} of {where.device}: {err}"
        except msgspec.DecodeError as err:
            reason, detail = BadInputReason.MALFORMED_JSON, f"{where.kind} of {where.device}: {err}"
        return Outcome(Refused(codec.Problem(reason, detail)))

    def command(self, key: str, point: str, value: float, valid_until: datetime) -> Publish:
        device = point.split(".", 1)[0]
        return Publish(
            topics.command(self.site, device),
            codec.encode_command(key, point, value, valid_until),
        )

    def will(self, now: datetime) -> Publish:
        return Publish(
            topics.runtime_status(self.site), codec.encode_status("offline", now), retain=True
        )

    def online(self, now: datetime) -> list[Publish]:
        return [
            Publish(
                topics.runtime_status(self.site), codec.encode_status("online", now), retain=True
            )
        ]

    def heartbeat(self, seq: int, now: datetime) -> Publish | None:
        return Publish(topics.heartbeat(self.site), codec.encode_heartbeat(seq, now))

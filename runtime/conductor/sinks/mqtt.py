"""The MQTT command sink: an approved setpoint as a JSON wire v1 command, its ack, and
read-back verification from the device's own telemetry.

One paho session per MQTT source (its own client id, next to the connector's session
that ingests telemetry and sends the runtime's heartbeat). ``write``:

1. publishes ``{"v":1,"key","point","value","valid_until"}`` on ``.../<device>/cmd``
   (QoS 1, not retained; ``valid_until`` in device time, see ``timebase``);
2. waits for the ack with that key, and maps its status onto the outbox:
   ``applied`` / ``duplicate`` -> the device confirmed the key (``applied_key``), go
   on to read-back; ``rejected`` -> ``CommandRefused`` (a retryable write failure
   carrying the device's reason: fail-safe hold, no heartbeat, device unreachable;
   the outbox re-sends the same key after back-off); ``expired`` -> ``CommandExpired``
   (a ``WriteExpired``: the command's window has passed on the device's clock, which
   may be ahead of ours; the outbox records the dispatch expired with the device's
   reason and never re-sends it); no ack in time -> not confirmed, the outbox
   re-sends the same key (the device deduplicates);
3. read-back: waits until the device's telemetry, stamped after the ack, reports the
   setpoint register at the approved value (and the device not in safe mode). A
   device that acked but holds another value (clamped by its own limits, reverted)
   is "acked, read-back mismatch": the outbox dead-letters it for a human.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import paho.mqtt.client as paho
from gridaios_wire import jsonv1 as wire
from paho.mqtt.reasoncodes import ReasonCode

from connectors import ConnectorNotReady, WriteExpired, WriteFailed
from connectors.mqtt import MqttSourceConfig
from connectors.mqtt.transport import make_paho
from connectors.mqtt.wire import Publish
from runtime.conductor.sinks.timebase import SameTime, TimeBase
from safety import ApprovedCommand, Reading

log = logging.getLogger(__name__)

Readings = Callable[[str], Reading | None]  # gridaios point id -> latest reading


class CommandRefused(WriteFailed):
    """The device answered ``rejected`` or ``expired``: not applied (its reason says why)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


class CommandExpired(CommandRefused, WriteExpired):
    """The device answered ``expired``: never applied, and final (do not re-send)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandPoints:
    """Where one battery's setpoint goes on the wire and where its read-back comes from."""

    device: str  # asset id on the wire (topic level)
    command_point: str  # wire point name of the setpoint, e.g. bat1.p_setpoint_kw
    readback_point: str  # gridaios point id of the setpoint as read back from the device
    safe_mode_point: str | None = None  # gridaios point id, 1 while in safe-default mode


@dataclass(frozen=True, slots=True, kw_only=True)
class SinkResult:
    key: str
    written_value: float
    readback_value: float
    applied_key: str
    status: str  # applied | duplicate | no_ack
    reason: str = ""
    readback_ok: bool = False  # fresh read-back at the value, device not in safe mode

    @property
    def verified(self) -> bool:
        return self.applied_key == self.key and self.readback_ok


class MqttCommandSink:
    def __init__(
        self,
        source: MqttSourceConfig,
        points: dict[str, CommandPoints],
        readings: Readings,
        clock: Callable[[], datetime],
        *,
        timebase: TimeBase | None = None,
        ack_timeout_s: float = 5.0,
        readback_timeout_s: float = 10.0,
        tolerance_kw: float = 0.05,
        poll_s: float = 0.01,
    ) -> None:
        if source.format != "json":
            raise ValueError(f"MQTT source {source.id}: the command sink speaks JSON wire v1 only")
        self.source = source
        self.points = points
        self._readings = readings
        self._clock = clock
        self.timebase: TimeBase = timebase or SameTime()
        self.ack_timeout_s = ack_timeout_s
        self.readback_timeout_s = readback_timeout_s
        self.tolerance_kw = tolerance_kw
        self._poll_s = poll_s
        self.counts: Counter[str] = Counter()
        self.bad_acks: list[tuple[str, bytes, str]] = []  # (topic, raw, why), newest 100
        self._waiting: dict[str, asyncio.Future[wire.ReceivedAck]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribed: asyncio.Future[ReasonCode] | None = None
        self._connected = False
        self._client = self._make_client()

    @property
    def ack_topic(self) -> str:
        return wire.Topics(site=self.source.site, device="+").ack

    def _make_client(self) -> paho.Client:
        session = self.source.model_copy(
            update={"client_id": f"{self.source.resolved_client_id()}-cmd"}
        )
        # make_paho wants a will; this session has no status of its own.
        client = make_paho(
            session,
            Publish(wire.Topics(site=self.source.site, device=wire.RUNTIME).runtime_status, b""),
        )
        client.will_clear()
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    # --- lifecycle (event loop) -------------------------------------------------

    async def connect(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._subscribed = self._loop.create_future()
        c = self.source
        try:
            await asyncio.to_thread(self._client.connect, c.host, c.port, c.keepalive_s)
        except OSError as err:
            raise ConnectorNotReady(
                f"MQTT command sink {c.id}: cannot reach {c.host}:{c.port}: {err}"
            ) from err
        self._client.loop_start()
        try:
            async with asyncio.timeout(c.connect_timeout_s):
                code = await self._subscribed
        except TimeoutError as err:
            await self.close()
            raise ConnectorNotReady(
                f"MQTT command sink {c.id}: no SUBACK for {self.ack_topic} from "
                f"{c.host}:{c.port} within {c.connect_timeout_s} s"
            ) from err
        if code.is_failure:
            await self.close()
            raise ConnectorNotReady(
                f"MQTT command sink {c.id}: {c.host}:{c.port} refused the session or the "
                f"subscription to {self.ack_topic} ({code}); check the credentials and that "
                "the broker ACL grants read on the ack topics and write on the cmd topics"
            )

    async def close(self) -> None:
        self._connected = False
        await asyncio.to_thread(self._client.disconnect)
        await asyncio.to_thread(self._client.loop_stop)
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()

    # --- paho thread --------------------------------------------------------------

    def _post(self, fn: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop may be gone at shutdown
            loop.call_soon_threadsafe(fn, *args)

    def _on_connect(
        self, client: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: object
    ) -> None:
        if rc.is_failure:
            log.warning("MQTT command sink %s: connect refused: %s", self.source.id, rc)
            if self._subscribed is not None:
                self._post(_resolve, self._subscribed, rc)
            return
        client.subscribe(self.ack_topic, qos=1)

    def _on_subscribe(
        self, _c: paho.Client, _u: object, _mid: int, codes: list[ReasonCode], _p: object
    ) -> None:
        self._post(self._set_connected, not codes[0].is_failure)
        if self._subscribed is not None:
            self._post(_resolve, self._subscribed, codes[0])

    def _on_disconnect(
        self, _c: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: object
    ) -> None:
        self._post(self._set_connected, False)

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        self._post(self._on_ack, msg.topic, bytes(msg.payload))

    # --- event loop -----------------------------------------------------------------

    def _set_connected(self, up: bool) -> None:
        self._connected = up

    def _on_ack(self, topic: str, raw: bytes) -> None:
        try:
            ack = wire.decode_ack(raw)
        except wire.ProtocolError as err:
            self.counts["bad_acks"] += 1
            self.bad_acks = [*self.bad_acks[-99:], (topic, raw[:4096], str(err))]
            log.warning("MQTT command sink %s: bad ack on %s: %s", self.source.id, topic, err)
            return
        future = self._waiting.get(ack.key)
        if future is not None and not future.done():
            future.set_result(ack)

    async def write(self, approved: ApprovedCommand) -> SinkResult:
        """Send one approved setpoint and confirm it; see the module docstring."""
        points = self.points.get(approved.asset)
        if points is None:
            raise WriteFailed(
                f"MQTT command sink {self.source.id}: no setpoint of {approved.asset} on this "
                "source; check points.p_setpoint_kw.source in the site config"
            )
        if self._loop is None or not self._connected:
            raise ConnectorNotReady(
                f"MQTT command sink {self.source.id} is not connected to "
                f"{self.source.host}:{self.source.port}"
            )
        key, value = approved.key, float(approved.value)
        valid_until = self.timebase.to_device(approved.command.end)
        window_s = (valid_until - self.timebase.device_now()).total_seconds()
        payload = wire.encode_command(key, points.command_point, value, valid_until)
        future: asyncio.Future[wire.ReceivedAck] = self._loop.create_future()
        self._waiting[key] = future
        self._client.publish(
            wire.Topics(site=self.source.site, device=points.device).cmd, payload, qos=1
        )
        self.counts["sent"] += 1
        try:
            async with asyncio.timeout(self.ack_timeout_s):  # expired or not, it answers
                ack = await future
        except TimeoutError:
            self.counts["no_ack"] += 1
            return SinkResult(
                key=key,
                written_value=value,
                readback_value=math.nan,
                applied_key="",
                status="no_ack",
                reason=f"no ack within {self.ack_timeout_s:g} s",
            )
        finally:
            if self._waiting.get(key) is future:
                del self._waiting[key]
        self.counts[ack.status] += 1
        if ack.status in ("rejected", "expired"):
            refused = CommandExpired if ack.status == "expired" else CommandRefused
            raise refused(
                ack.status,
                f"{points.device} answered {ack.status} to {key}: {ack.reason or 'no reason'}",
            )
        since = self.timebase.to_runtime(ack.ts) if ack.ts is not None else self._clock()
        wait_s = min(self.readback_timeout_s, window_s)
        readback, ok = await self._read_back(points, value, since, wait_s)
        self.counts["verified" if ok else "readback_mismatch"] += 1
        return SinkResult(
            key=key,
            written_value=value,
            readback_value=readback,
            applied_key=key,
            status=ack.status,
            reason=ack.reason,
            readback_ok=ok,
        )

    async def _read_back(
        self, points: CommandPoints, value: float, since: datetime, timeout_s: float
    ) -> tuple[float, bool]:
        """The setpoint the device reports after ``since``, and whether it is the approved
        value outside safe mode; at the deadline the last fresh value (NaN if none)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout_s)
        seen = math.nan
        while True:
            reading = self._readings(points.readback_point)
            if reading is not None and reading.ts >= since:
                seen = reading.value
                if abs(seen - value) <= self.tolerance_kw and not self._safe_mode(points, since):
                    return seen, True
            if loop.time() >= deadline:
                return seen, False
            await asyncio.sleep(self._poll_s)

    def _safe_mode(self, points: CommandPoints, since: datetime) -> bool:
        if points.safe_mode_point is None:
            return False
        reading = self._readings(points.safe_mode_point)
        return reading is None or reading.ts < since or reading.value != 0.0


def _resolve(future: asyncio.Future[ReasonCode], code: ReasonCode) -> None:
    if not future.done():
        future.set_result(code)

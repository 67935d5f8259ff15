"""MQTT client (paho-mqtt 2.x): telemetry in, approved commands out, acks back.

Threads: paho's network loop runs in its own thread and only enqueues raw messages into a
bounded queue (when the queue is full it blocks, so the socket stops being read and the
broker holds the rest: back-pressure, not unbounded memory). One asyncio task drains the
queue, decodes, normalizes and hands batches to the runtime on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import queue
import ssl
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from connectors import metrics
from connectors.badinput import BadInput, BadInputReason
from connectors.deadletter import DeadLetterSink
from connectors.errors import ConnectorError, ConnectorNotReady, WriteExpired, WriteFailed
from connectors.mqtt.config import MqttSourceConfig
from connectors.mqtt.errors import connack_error, socket_error, subscribe_error
from connectors.mqtt.jsonwire import JsonWire
from connectors.mqtt.sparkplug import SparkplugWire
from connectors.mqtt.spool import Spool
from connectors.mqtt.transport import make_paho
from connectors.mqtt.wire import Ack, DeviceState, Publish, Refused, Telemetry, Wire
from connectors.normalize import Batch, NormalizeConfig, Normalizer
from connectors.points import PointBinding, WriteResult, WriteTarget
from connectors.sample import Sample
from connectors.state import ConnectionState
from safety import ApprovedCommand

log = logging.getLogger(__name__)

_Item = tuple[str, bytes, datetime]


class MqttClient:
    """One session with one broker for one source, feeding samples to the runtime."""

    def __init__(
        self,
        config: MqttSourceConfig,
        points: Sequence[PointBinding],
        on_sample: Callable[[Sample], None] | None,
        clock: Callable[[], datetime],
        *,
        on_batch: Callable[[Batch], None] | None = None,
        dead_letters: DeadLetterSink | None = None,
        wire: Wire | None = None,
        observe_only: bool = False,
    ) -> None:
        # observe_only (gridaios probe beside a live site): a client id of its own and a
        # clean session, so it never takes over the runtime's session or drains its queue;
        # no will, status or heartbeat (a bridge would take them for the runtime's), no spool
        self.observe_only = observe_only
        if observe_only:
            config = config.model_copy(
                update={
                    "client_id": f"{config.resolved_client_id()}-probe-{os.getpid()}",
                    "session_expiry_s": 0,
                    "clean_session": True,
                    "spool_path": None,
                }
            )
        self.config = config
        self._on_sample = on_sample
        self._on_batch = on_batch
        self._clock = clock
        self.wire: Wire = wire or _default_wire(config, list(points))
        self.bad = BadInput(config.id, dead_letters, clock)
        self.normalizer = Normalizer(
            config.id,
            NormalizeConfig(
                future_tolerance_s=config.future_tolerance_s,
                frozen_after_s=config.frozen_after_s,
            ),
        )
        self.device_states: dict[str, str] = {}
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=config.queue_messages)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._wake_pending = False
        self._closing = False
        self._connected_once = False
        self._first_connack: asyncio.Future[ReasonCode] | None = None
        self._connack: ReasonCode | None = None
        self._suback_pending: set[int | None] = set()
        self._refused_subscription: ReasonCode | None = None
        self._mid_key: dict[int, str] = {}
        self._mid_lock = threading.Lock()
        self._waiting: dict[str, asyncio.Future[Ack]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._spool = Spool(config.spool_path or ":memory:")
        self._paho = self._make_paho()
        self._m_messages = metrics.MESSAGES.labels(config.id)
        self._m_queue = metrics.QUEUE_DEPTH.labels(config.id)
        self.messages = 0
        self._set_state(ConnectionState.DISCONNECTED)

    # --- lifecycle ----------------------------------------------------------

    def _make_paho(self) -> paho.Client:
        will = None if self.observe_only else self.wire.will(self._clock())
        client = make_paho(self.config, will)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    @property
    def where(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    async def connect(self) -> None:
        """Connect, subscribe and start ingesting; raise ConnectorNotReady/AuthFailed."""
        self._loop = asyncio.get_running_loop()
        self._closing = False  # a connect after a failed one (the site retries a dead broker)
        self._first_connack = self._loop.create_future()
        self._set_state(ConnectionState.CONNECTING)
        c = self.config
        # The decoder runs from the start: a persistent session may deliver its backlog
        # before the SUBACKs we wait for, and a full queue must not stall the handshake.
        self._tasks = [asyncio.create_task(self._drain(), name=f"mqtt-{c.id}-drain")]
        try:
            await self._handshake()
        except ConnectorError:
            await self._stop_paho()
            await self._cancel_tasks()
            self._set_state(ConnectionState.FAILED)
            raise
        if not self.observe_only:
            self._tasks.append(
                asyncio.create_task(self._heartbeat(), name=f"mqtt-{c.id}-heartbeat")
            )
        if isinstance(self.wire, SparkplugWire) and self.wire.by_link:
            self._tasks.append(asyncio.create_task(self._confirm(), name=f"mqtt-{c.id}-link"))

    async def _handshake(self) -> None:
        c = self.config
        assert self._first_connack is not None
        props = None
        if c.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = c.session_expiry_s
        try:
            await asyncio.to_thread(
                self._paho.connect,
                c.host,
                c.port,
                c.keepalive_s,
                clean_start=(
                    c.clean_session if c.protocol == "5" else paho.MQTT_CLEAN_START_FIRST_ONLY
                ),
                properties=props,
            )
        except (OSError, ssl.SSLError) as err:
            raise socket_error(c.id, self.where, err) from err
        self._paho.loop_start()
        try:
            async with asyncio.timeout(c.connect_timeout_s):
                code = await self._first_connack
        except TimeoutError as err:
            raise ConnectorNotReady(
                f"MQTT source {c.id}: no CONNACK/SUBACK from {self.where} within "
                f"{c.connect_timeout_s} s"
            ) from err
        if code.is_failure:
            raise connack_error(c.id, self.where, code)
        if self._refused_subscription is not None:
            raise subscribe_error(c.id, self.where, self.wire.subscriptions())

    async def _cancel_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def close(self) -> None:
        self._closing = True
        await self._cancel_tasks()
        if self._state_is_connected() and not self.observe_only:
            # A clean goodbye: say offline ourselves (a clean disconnect does not fire the will).
            will = self.wire.will(self._clock())
            info = self._paho.publish(will.topic, will.payload, qos=1, retain=will.retain)
            await asyncio.to_thread(_wait_published, info, 2.0)
        await self._stop_paho()
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()
        self._spool.close()
        self._set_state(ConnectionState.DISCONNECTED)

    async def _stop_paho(self) -> None:
        self._closing = True
        await asyncio.to_thread(self._paho.disconnect)
        await asyncio.to_thread(self._paho.loop_stop)

    def _state_is_connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    def _set_state(self, state: ConnectionState) -> None:
        self.state = state
        metrics.set_state(self.config.id, state)

    # --- paho thread ----------------------------------------------------------

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn`` on the event loop; the loop may be gone when paho calls late."""
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            log.debug("MQTT source %s: event loop closed; dropped a callback", self.config.id)

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, code: ReasonCode, props: Any
    ) -> None:
        with self._mid_lock:
            key = self._mid_key.pop(mid, None)
        if key is not None and code.is_failure:
            self._post(self._refuse_command, key, str(code))

    def _refuse_command(self, key: str, reason: str) -> None:
        future = self._waiting.pop(key, None)
        if future is not None and not future.done():
            future.set_exception(
                WriteFailed(
                    f"MQTT source {self.config.id}: broker refused command {key} ({reason}); "
                    "grant write on the cmd topic in the broker ACL"
                )
            )

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, code: ReasonCode, props: Any
    ) -> None:
        loop = self._loop
        if loop is None:
            return
        if code.is_failure:
            if self._first_connack is not None:
                self._post(_resolve, self._first_connack, code)
            return
        self._suback_pending = {
            client.subscribe(topic, qos=1)[1] for topic in self.wire.subscriptions()
        }
        self._connack = code
        now = self._clock()
        for msg in () if self.observe_only else self.wire.online(now):
            client.publish(msg.topic, msg.payload, qos=1, retain=msg.retain)
        for cmd in self._spool.pending(now):
            client.publish(cmd.topic, cmd.payload, qos=1)
            self._spool.mark_sent(cmd.key)
        if self._connected_once:
            metrics.RECONNECTS.labels(self.config.id).inc()
            log.info("MQTT source %s: reconnected to %s", self.config.id, self.where)
        self._connected_once = True

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, codes: Any, props: Any
    ) -> None:
        """Ready once every subscription is confirmed: nothing published after is missed."""
        self._suback_pending.discard(mid)
        for code in codes:
            if code.is_failure:
                log.error(
                    "MQTT source %s: broker refused a subscription (%s); check the ACL",
                    self.config.id,
                    code,
                )
                self._refused_subscription = code
        if not self._suback_pending and self._loop is not None:
            # Connected means subscribed: a message published from now on reaches us.
            self._post(self._set_state, ConnectionState.CONNECTED)
            first = self._first_connack
            if first is not None and self._connack is not None:
                self._post(_resolve, first, self._connack)

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, code: ReasonCode, props: Any
    ) -> None:
        if self._closing or self._loop is None:
            return
        log.warning("MQTT source %s: lost %s (%s); reconnecting", self.config.id, self.where, code)
        self._post(self._set_state, ConnectionState.RECONNECTING)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        item = (msg.topic, bytes(msg.payload), self._clock())
        while True:
            try:
                self._queue.put(item, timeout=0.5)
                break
            except queue.Full:
                if self._closing:
                    return
                log.warning("MQTT source %s: decode queue full; holding the broker", self.config.id)
        if not self._wake_pending and self._loop is not None:
            self._wake_pending = True
            self._post(self._wake.set)

    # --- event loop: decode, normalize, deliver -------------------------------

    async def _drain(self) -> None:
        get = self._queue.get_nowait
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._wake_pending = False
            self._m_queue.set(self._queue.qsize())
            handled = 0
            while True:
                try:
                    topic, payload, received = get()
                except queue.Empty:
                    break
                self._handle(topic, payload, received)
                handled += 1
                if handled % 256 == 0:
                    await asyncio.sleep(0)  # let the rest of the runtime breathe

    def _handle(self, topic: str, payload: bytes, received: datetime) -> None:
        self.messages += 1
        self._m_messages.inc()
        if len(payload) > self.config.max_payload_bytes:
            self.bad.report(
                BadInputReason.OVERSIZED,
                f"{len(payload)} bytes on {topic}; at most {self.config.max_payload_bytes}",
                payload[: self.config.max_payload_bytes],
                kind=self.wire.kind,
            )
            return
        try:
            outcome = self.wire.decode(topic, payload, received)
        except ConnectorError as err:  # a wire signals a protocol problem it cannot value
            log.warning("MQTT source %s: %s", self.config.id, err)
            return
        for reply in outcome.replies:
            self._paho.publish(reply.topic, reply.payload, qos=1, retain=reply.retain)
        for ack in outcome.acks:
            self._on_ack(ack, payload, received)
        for state in outcome.states:
            self._device_state(state)
        event = outcome.event
        if isinstance(event, Telemetry):
            for problem in event.problems:
                self.bad.report(
                    problem.reason,
                    f"{topic}: {problem.detail}",
                    payload,
                    kind=self.wire.kind,
                    count=problem.count,
                )
            batch = event.batch
            if batch is None:
                return
            if event.new_session:
                self.normalizer.forget_stream(batch.stream)
            if not self.normalizer.admit(batch.stream, batch.sequence):
                return
            self.normalizer.apply(batch)
            self._deliver(batch)
        elif isinstance(event, Ack):
            self._on_ack(event, payload, received)
        elif isinstance(event, DeviceState):
            self._device_state(event)
        elif isinstance(event, Refused):
            self.bad.report(
                event.problem.reason,
                f"{topic}: {event.problem.detail}",
                payload,
                kind=self.wire.kind,
            )

    def _device_state(self, event: DeviceState) -> None:
        if self.device_states.get(event.device) != event.state:
            log.info("MQTT source %s: device %s is %s", self.config.id, event.device, event.state)
        self.device_states[event.device] = event.state

    def _deliver(self, batch: Batch) -> None:
        if self._on_batch is not None:
            self._on_batch(batch)
        if self._on_sample is not None:
            for sample in batch.samples():
                self._on_sample(sample)

    def _on_ack(self, ack: Ack, payload: bytes, received: datetime) -> None:
        self._spool.record_ack(ack.key, ack.status, ack.value, ack.reason, payload, received)
        future = self._waiting.pop(ack.key, None)
        if future is not None and not future.done():
            future.set_result(ack)

    async def _confirm(self) -> None:
        """Freshness by link: re-confirm the values of live nodes while the session is up."""
        assert isinstance(self.wire, SparkplugWire)
        while True:
            await asyncio.sleep(self.config.confirm_every_s)
            if self.state is ConnectionState.CONNECTED:
                batch = self.wire.confirm(self._clock())
                if batch is not None:
                    self._deliver(batch)

    async def _heartbeat(self) -> None:
        seq = 0
        while True:
            msg = self.wire.heartbeat(seq, self._clock())
            if msg is not None and self._state_is_connected():
                self._paho.publish(msg.topic, msg.payload, qos=1, retain=msg.retain)
            seq += 1
            await asyncio.sleep(self.config.heartbeat_s)

    # --- commands -------------------------------------------------------------

    async def write(
        self, approved: ApprovedCommand, target: WriteTarget, *, readback_timeout_s: float = 5.0
    ) -> WriteResult:
        """Spool, publish (QoS 1) and wait for the device's ack with the same key.

        A key the device answered for good (``applied`` / ``duplicate`` / ``expired``) is
        not sent again: its journaled ack is the answer. Otherwise every call publishes the
        command (a retry re-sends the same key; the device deduplicates): also after a
        ``rejected``, which is the device's answer for now, not for the key. ``rejected``
        raises ``WriteFailed`` and ``expired`` raises ``WriteExpired``, with the device's
        reason; no ack in time returns an unconfirmed result.
        """
        if self._loop is None or self._closing:
            raise ConnectorNotReady(f"MQTT source {self.config.id} is not connected")
        known = self._spool.final_ack(approved.key)
        if known is not None:
            return self._answered(approved, Ack(known.key, known.status, known.value, known.reason))
        now = self._clock()
        valid_until = approved.command.end
        if isinstance(self.wire, SparkplugWire):  # a standard edge gets no gridaios metrics
            msg = self.wire.command(
                approved.key,
                target.value_node,
                float(approved.value),
                valid_until,
                keyed=not target.keyless,
                now=now,
            )
        else:
            msg = self.wire.command(
                approved.key, target.value_node, float(approved.value), valid_until
            )
        future = self._waiting.get(approved.key)
        if future is None or future.done():
            future = self._loop.create_future()
            self._waiting[approved.key] = future
        self._spool.add(approved.key, msg.topic, msg.payload, valid_until, now)
        with self._mid_lock:
            info = self._paho.publish(msg.topic, msg.payload, qos=1)
            self._mid_key[info.mid] = approved.key
        self._spool.mark_sent(approved.key)
        try:
            async with asyncio.timeout(readback_timeout_s):
                ack = await asyncio.shield(future)
        except TimeoutError:
            return WriteResult(
                key=approved.key,
                written_value=float(approved.value),
                readback_value=math.nan,
                applied_key="",
            )
        if self._waiting.get(approved.key) is future:
            del self._waiting[approved.key]
        tolerance = 1e-6
        if isinstance(self.wire, SparkplugWire):  # the metric's own resolution (a Float)
            tolerance = self.wire.resolution(target.value_node, float(approved.value))
        return self._answered(approved, ack, tolerance)

    def _answered(
        self, approved: ApprovedCommand, ack: Ack, tolerance: float = 1e-6
    ) -> WriteResult:
        """The device's answer as the outbox needs it (see ``write``)."""
        if ack.status in ("rejected", "expired"):
            error = WriteExpired if ack.status == "expired" else WriteFailed
            raise error(
                f"MQTT source {self.config.id}: {approved.asset} answered {ack.status} to "
                f"{approved.key}: {ack.reason or 'no reason given'}"
            )
        return WriteResult(
            key=approved.key,
            written_value=float(approved.value),
            readback_value=ack.value if ack.value is not None else math.nan,
            applied_key=ack.key,
            tolerance=tolerance,
        )

    def publish(self, msg: Publish) -> None:
        """Send one message (QoS 1) on this session: for tools that play a device."""
        self._paho.publish(msg.topic, msg.payload, qos=1, retain=msg.retain)


def _default_wire(config: MqttSourceConfig, points: list[PointBinding]) -> Wire:
    if config.format == "sparkplug_b":
        return SparkplugWire(
            config.id,
            config.site,
            config.sparkplug_host_id,
            points,
            by_link=config.freshness == "link",
        )
    return JsonWire(config.id, config.site, points, config.max_batch_samples)


def _resolve(future: asyncio.Future[ReasonCode], code: ReasonCode) -> None:
    if not future.done():
        future.set_result(code)


def _wait_published(info: paho.MQTTMessageInfo, timeout_s: float) -> None:
    try:
        info.wait_for_publish(timeout_s)
    except (RuntimeError, ValueError):
        log.debug("status publish did not complete before disconnect")

"""OPC UA client: secure session, subscriptions, reconnect, writes with read-back.

``connect()`` makes one attempt and raises what went wrong (ConnectorNotReady,
ConnectorAuthFailed, UnknownPoint). Once connected, a supervisor task owns the session:
when the server goes away it reconnects with exponential back-off and jitter and
subscribes again, and the connection state is exported as a metric throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from math import isfinite
from pathlib import Path
from typing import Any

from asyncua import Client, Node, ua
from asyncua.common.subscription import Subscription
from asyncua.crypto import security_policies, uacrypto
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions

from connectors import metrics
from connectors.badinput import BadInput, BadInputReason
from connectors.deadletter import DeadLetterSink
from connectors.errors import (
    ConnectorAuthFailed,
    ConnectorError,
    ConnectorNotReady,
    UnknownPoint,
    WriteFailed,
    WriteRefused,
)
from connectors.normalize import Batch, NormalizeConfig, Normalizer
from connectors.opcua import typed
from connectors.opcua.browse import data_type_ids, engineering_info, find_node, resolve_nodes
from connectors.opcua.config import OpcUaSourceConfig
from connectors.opcua.errors import connect_error
from connectors.opcua.mapping import quality_of, utc
from connectors.points import PointBinding, WriteResult, WriteTarget
from connectors.sample import Sample, SampleQuality
from connectors.state import ConnectionState
from safety import ApprovedCommand

log = logging.getLogger(__name__)

_POLICIES: dict[str, Any] = {
    "Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256,
    "Aes256_Sha256_RsaPss": security_policies.SecurityPolicyAes256Sha256RsaPss,
}
_NET_ERRORS = (TimeoutError, OSError, ConnectionError, ua.UaError)


class _BatchSubscription(Subscription):  # type: ignore[misc]
    """Hands each publish response to the client as one batch instead of per item."""

    def __init__(self, owner: OpcUaClient, *args: Any) -> None:
        super().__init__(*args)
        self._owner = owner

    async def publish_callback(self, publish_result: ua.PublishResult) -> None:
        message = publish_result.NotificationMessage
        for notif in message.NotificationData or ():
            if isinstance(notif, ua.DataChangeNotification):
                self._owner._on_notification(self, message.SequenceNumber, notif)
            elif isinstance(notif, ua.StatusChangeNotification):
                log.warning("OPC UA subscription status change: %s", notif.Status)
        # Any publish response, a keep-alive included, says the link is alive and every
        # change up to now was delivered.
        self._owner._on_publish(self)


class OpcUaClient:
    """One connection to one OPC UA server, feeding samples to ``on_sample``."""

    def __init__(
        self,
        config: OpcUaSourceConfig,
        points: Sequence[PointBinding],
        on_sample: Callable[[Sample], None] | None,
        clock: Callable[[], datetime],
        *,
        on_batch: Callable[[Batch], None] | None = None,
        dead_letters: DeadLetterSink | None = None,
    ) -> None:
        self._config = config
        self._points = list(points)
        self._on_sample = on_sample
        self._on_batch = on_batch
        self._clock = clock
        self._client: Client | None = None
        self._subscription: _BatchSubscription | None = None
        # client handle -> (binding, point, unit, EURange low, EURange high)
        self._by_handle: dict[int, tuple[PointBinding, str, str, float, float]] = {}
        # Notifications that arrive while a subscription is being set up (the server's
        # initial values) wait here until the handle map exists, then are replayed.
        self._early: list[tuple[Subscription, int, ua.DataChangeNotification]] | None = None
        self.out_of_range = 0
        self.no_value = 0  # notifications with a non-good status and no value at all
        self._said_no_value: set[str] = set()
        self._lost = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self.bad = BadInput(config.id, dead_letters, clock)
        self.normalizer = Normalizer(
            config.id,
            NormalizeConfig(
                future_tolerance_s=config.future_tolerance_s, frozen_after_s=config.frozen_after_s
            ),
        )
        self.units: dict[str, str] = {}
        self.refused: dict[str, str] = {}  # point -> why its node cannot be that point
        self.eu_ranges: dict[str, tuple[float, float]] = {}
        self.node_ids: dict[str, str] = {}
        self._write_types: dict[str, ua.VariantType] = {}  # setpoint node -> its DataType
        self._target_nodes: dict[str, Node] = {}  # write target as configured -> its Node
        self.notifications = 0
        # link freshness: the last value of each point, re-confirmed by every publish
        self._last: dict[str, tuple[float, str, SampleQuality, datetime | None]] = {}
        self._confirmed_at: datetime | None = None
        self.confirmations = 0
        self._m_messages = metrics.MESSAGES.labels(config.id)
        self._set_state(ConnectionState.DISCONNECTED)

    def _set_state(self, state: ConnectionState) -> None:
        self.state = state
        metrics.set_state(self._config.id, state)

    # --- lifecycle ----------------------------------------------------------

    async def connect(self) -> None:
        """One attempt; on success a supervisor keeps the session up until ``close()``."""
        self._closing = False
        self._set_state(ConnectionState.CONNECTING)
        try:
            await self._open()
        except ConnectorError:
            self._set_state(ConnectionState.FAILED)
            raise
        self._set_state(ConnectionState.CONNECTED)
        self._supervisor = asyncio.create_task(self._supervise(), name=f"opcua-{self._config.id}")

    async def _open(self) -> None:
        c = self._config
        client = Client(url=c.endpoint, timeout=c.timeout_s, watchdog_intervall=c.watchdog_s)
        client.application_uri = c.application_uri
        client.name = f"gridaios {c.id}"
        try:
            await self._secure(client)
            await client.connect()
        except ConnectorError:
            raise
        except (*_NET_ERRORS, ValueError) as err:
            await _quiet_disconnect(client)
            raise connect_error(c.id, c.endpoint, err) from err
        except AttributeError as err:
            # asyncua 1.1 trips over a server's ERR reply to OpenSecureChannel (seen with
            # node-opcua refusing an untrusted client certificate) with an AttributeError.
            await _quiet_disconnect(client)
            if c.security == "none":
                raise ConnectorNotReady(f"OPC UA source {c.id}: {c.endpoint}: {err!r}") from err
            raise ConnectorAuthFailed(
                f"OPC UA source {c.id}: {c.endpoint} refused the secure channel; most often "
                "the server does not trust our client certificate (add it to the server's "
                "trusted certificates)"
            ) from err
        client.connection_lost_callback = self._connection_lost
        self._client = client
        try:
            nodes = await self._resolve(client)
            await self._describe(client, nodes)
            if nodes:  # a source may carry only setpoints (written, never subscribed)
                await self._subscribe(client, nodes)
        except ConnectorError:
            await self._drop_client()
            raise
        except _NET_ERRORS as err:
            await self._drop_client()
            raise ConnectorNotReady(f"OPC UA source {c.id}: lost {c.endpoint}: {err!r}") from err
        log.info("OPC UA source %s: subscribed to %d points", c.id, len(nodes))

    async def _secure(self, client: Client) -> None:
        c = self._config
        if c.security == "none":
            log.warning(
                "OPC UA source %s: connecting WITHOUT security to %s (allow_insecure is set); "
                "commands travel unsigned and unencrypted",
                c.id,
                c.endpoint,
            )
        else:
            assert c.certificate and c.private_key and c.trust_dir  # checked by the config
            store = TrustStore([c.trust_dir], [])
            await store.load()
            client.certificate_validator = CertificateValidator(
                CertificateValidatorOptions.TRUSTED
                | CertificateValidatorOptions.TIME_RANGE
                | CertificateValidatorOptions.PEER_SERVER,
                store,
            )
            mode = getattr(ua.MessageSecurityMode, c.mode)
            await client.set_security(
                _POLICIES[c.security],
                uacrypto.CertProperties(str(c.certificate), _encoding(c.certificate)),
                uacrypto.CertProperties(str(c.private_key), _encoding(c.private_key)),
                mode=mode,
            )
        if c.username is not None:
            client.set_user(c.username)
            password = c.resolved_password()
            if password is not None:
                client.set_password(password)

    async def _resolve(self, client: Client) -> list[Node]:
        nodes = await resolve_nodes(client, self._points, self._config.id, self._config.endpoint)
        for node, binding in zip(nodes, self._points, strict=True):
            self.node_ids[binding.point] = node.nodeid.to_string()
        return nodes

    async def _describe(self, client: Client, nodes: list[Node]) -> None:
        units, ranges = await engineering_info(client, nodes, self._points)
        self.eu_ranges.update(ranges)
        data_types = await data_type_ids(client, nodes)
        self.refused = {}
        for binding, data_type in zip(self._points, data_types, strict=True):
            unit = units.get(binding.point)
            if unit is not None:
                self.units[binding.point] = unit
            problem = typed.point_problem(binding, unit, data_type)
            if problem is not None:
                # refused as MQTT refuses the same mismatch: counted, dead-lettered, and the
                # point stays missing (the gate fails closed on it) until the config is fixed
                self.refused[binding.point] = problem[1]
                self._bad(problem[0], binding, problem[1])

    async def _subscribe(self, client: Client, nodes: list[Node]) -> None:
        c = self._config
        params = ua.CreateSubscriptionParameters()
        params.RequestedPublishingInterval = c.publishing_interval_ms
        params.RequestedLifetimeCount = 10000
        params.RequestedMaxKeepAliveCount = (
            max(1, math.ceil(c.keepalive_s * 1000 / c.publishing_interval_ms))
            if c.freshness == "link"
            else client.get_keepalive_count(c.publishing_interval_ms)
        )
        params.MaxNotificationsPerPublish = 10000
        params.PublishingEnabled = True
        params.Priority = 0
        subscription = _BatchSubscription(self, client.uaclient, params, None)
        self._early = []
        try:
            await subscription.init()
            # StatusValueTimestamp: a value that stays the same but is re-measured still
            # arrives, so staleness is judged on the device's own timestamps.
            trigger = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
            handles = await subscription._subscribe(
                nodes,
                ua.AttributeIds.Value,
                mfilter=trigger,
                queuesize=c.queue_size,
                sampling_interval=c.sampling_interval_ms,
            )
        except BaseException:
            self._early = None  # the reconnect loop subscribes afresh
            raise
        by_server_handle = dict(zip(handles, self._points, strict=True))
        self._by_handle = {
            handle: (
                b,
                b.point,
                b.unit or self.units.get(b.point, ""),
                *self.eu_ranges.get(b.point, (-math.inf, math.inf)),
            )
            for handle, data in subscription._monitored_items.items()
            if (b := by_server_handle.get(data.server_handle)) is not None
            and b.point not in self.refused
        }
        self.normalizer.forget_stream(f"sub{subscription.subscription_id}")
        self._subscription = subscription
        early, self._early = self._early or [], None
        for args in early:
            self._on_notification(*args)

    # --- notifications --------------------------------------------------------

    def _on_notification(
        self, sub: Subscription, sequence: int, notif: ua.DataChangeNotification
    ) -> None:
        if self._early is not None:  # still subscribing: keep the initial values for later
            self._early.append((sub, sequence, notif))
            return
        received = self._clock()
        self._m_messages.inc()
        points: list[str] = []
        values: list[float] = []
        units: list[str] = []
        qualities: list[SampleQuality] = []
        source_ts: list[datetime] = []
        server_ts: list[datetime | None] = []
        by_handle = self._by_handle
        good = SampleQuality.GOOD
        by_link = self._config.freshness == "link"
        last = self._last
        items = notif.MonitoredItems
        self.notifications += len(items)
        for item in items:
            bound = by_handle.get(item.ClientHandle)
            if bound is None:
                continue
            dv = item.Value
            variant = dv.Value
            raw = variant.Value if variant is not None else None
            if raw.__class__ is float:
                value = raw
            elif isinstance(raw, bool | int):
                value = float(raw)
            elif raw is None and dv.StatusCode_ is not None and dv.StatusCode_.value != 0:
                # the server has no value yet (e.g. BadWaitingForInitialData): not bad
                # input; the point stays missing, which the gate treats as fail-closed
                self._no_value(bound[0], dv.StatusCode_)
                # nor is the last good value current any more: the link must stop
                # confirming it (a gateway whose device is gone keeps its own link up)
                last.pop(bound[1], None)
                continue
            else:
                self._bad(BadInputReason.WRONG_TYPE, bound[0], f"value {raw!r} is not a number")
                last.pop(bound[1], None)
                continue
            if not isfinite(value):
                self._bad(BadInputReason.NOT_FINITE, bound[0], f"value {value} is not finite")
                last.pop(bound[1], None)
                continue
            if bound[0].scale != 1.0 or bound[0].offset != 0.0:
                value = value * bound[0].scale + bound[0].offset
            status = dv.StatusCode_
            server = dv.ServerTimestamp
            source = dv.SourceTimestamp or server
            if server is not None and server.tzinfo is None:
                server = server.replace(tzinfo=UTC)
            points.append(bound[1])
            values.append(value)
            units.append(bound[2])
            quality = good if status is None or status.value == 0 else quality_of(status)
            if not bound[3] <= value <= bound[4]:
                # outside the server's own EURange: the instrument is suspect, not the grid
                self.out_of_range += 1
                if quality is good:
                    quality = SampleQuality.UNCERTAIN
            qualities.append(quality)
            # link freshness: a value is as old as the link's word for it, not the device's
            source_ts.append(received if by_link else utc(source, received))
            server_ts.append(server)
            if by_link:
                last[bound[1]] = (value, bound[2], quality, server)
        if not points or not self.normalizer.admit(f"sub{sub.subscription_id}", sequence):
            return
        batch = Batch(
            source=self._config.id,
            stream=f"sub{sub.subscription_id}",
            sequence=sequence,
            received_ts=received,
            points=points,
            values=values,
            units=units,
            qualities=qualities,
            source_ts=source_ts,
            flags=[0] * len(points),
            server_ts=server_ts,
        )
        self.normalizer.apply(batch)
        if self._on_batch is not None:
            self._on_batch(batch)
        if self._on_sample is not None:
            for sample in batch.samples():
                self._on_sample(sample)

    def _on_publish(self, sub: Subscription) -> None:
        """Link freshness: re-stamp every value last delivered as current, at most every
        ``keepalive_s``. Only while the subscription answers: when it stops (server gone,
        network cut) nothing is confirmed and the values age out, so the gate rejects."""
        if self._config.freshness != "link" or self._early is not None or not self._last:
            return
        if sub is not self._subscription:
            return  # an old subscription's late answer
        now = self._clock()
        if (
            self._confirmed_at is not None
            and (now - self._confirmed_at).total_seconds() < self._config.keepalive_s * 0.9
        ):
            return
        self._confirmed_at = now
        self.confirmations += 1
        last = self._last
        batch = Batch(
            source=self._config.id,
            stream="link",
            sequence=self.confirmations,
            received_ts=now,
            points=list(last),
            values=[v[0] for v in last.values()],
            units=[v[1] for v in last.values()],
            qualities=[v[2] for v in last.values()],
            source_ts=[now] * len(last),
            flags=[0] * len(last),
            server_ts=[v[3] for v in last.values()],
        )
        if self._on_batch is not None:
            self._on_batch(batch)
        if self._on_sample is not None:
            for sample in batch.samples():
                self._on_sample(sample)

    def _no_value(self, binding: PointBinding, status: ua.StatusCode) -> None:
        self.no_value += 1
        if binding.point not in self._said_no_value:
            self._said_no_value.add(binding.point)
            log.info(
                "OPC UA source %s: node %s (%s) has no value (%s); the point stays missing "
                "until the server sends one",
                self._config.id,
                binding.node_id,
                binding.point,
                status.name,
            )

    def _bad(self, reason: BadInputReason, binding: PointBinding, detail: str) -> None:
        """A value no sample can carry: counted, kept (as text) in the dead-letter sink."""
        text = f"node {binding.node_id} ({binding.point}): {detail}"
        self.bad.report(reason, text, text.encode(), kind="opcua")

    # --- supervision: reconnect and re-subscribe ------------------------------

    async def _connection_lost(self, err: Exception) -> None:
        if not self._closing:
            log.warning("OPC UA source %s: connection lost: %r", self._config.id, err)
            self._lost.set()

    async def _supervise(self) -> None:
        c = self._config
        while True:
            await self._lost.wait()
            self._lost.clear()
            self._set_state(ConnectionState.RECONNECTING)
            await self._drop_client()
            delay = c.reconnect_min_s
            attempt = 0
            while True:
                attempt += 1
                try:
                    await self._open()
                except ConnectorError as err:
                    if attempt == 1:
                        log.warning("OPC UA source %s: reconnect failed: %s", c.id, err)
                    if isinstance(err, ConnectorAuthFailed | UnknownPoint):
                        self._set_state(ConnectionState.FAILED)  # a human must act; keep trying
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter
                    delay = min(delay * 2, c.reconnect_max_s)
                    continue
                break
            metrics.RECONNECTS.labels(c.id).inc()
            self._set_state(ConnectionState.CONNECTED)
            log.warning("OPC UA source %s: reconnected after %d attempt(s)", c.id, attempt)

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        self._subscription = None
        self._last.clear()  # confirmed again only once a new subscription delivers them
        # a restarted server may have retyped a node under the same id (a firmware update):
        # its DataType and access are read again, not taken from the old session
        self._write_types.clear()
        self._target_nodes.clear()
        if client is not None:
            await _quiet_disconnect(client)

    # --- writes ----------------------------------------------------------------

    async def write(
        self, approved: ApprovedCommand, target: WriteTarget, *, readback_timeout_s: float = 5.0
    ) -> WriteResult:
        """A typed, scaled write of the setpoint, then read back until the device holds it.

        The value goes in the node's own DataType (read from the server once) or the
        point's ``data_type``; a node that is not writable, or a value its type cannot
        carry, is refused before anything is written (``WriteRefused``), and so is a
        permanent refusal by the server. Where the device has key nodes, the key is
        written only after the value was accepted, and the device's applied key confirms
        the command; without them (a standard device) the read-back of the setpoint
        within the wire type's resolution stands for the applied key: the result carries
        ``approved.key`` as applied once the node reads the value, ``""`` while it does not."""
        client = self._require_client()
        value = float(approved.value)
        what = f"OPC UA source {self._config.id}: {target.value_node}"
        value_node = await self._target_node(client, target.value_node, what)
        variant_type = await self._write_type(client, value_node, target, what)
        wire = typed.to_wire(
            value, variant_type, scale=target.scale, offset=target.offset, what=what
        )
        await _send(client, approved.key, [value_node], [wire.variant], what)
        read_nodes = [value_node]
        if not target.keyless:
            assert target.key_node is not None and target.applied_key_node is not None
            key_variant = ua.Variant(approved.key, ua.VariantType.String)
            key_node = await self._target_node(client, target.key_node, what)
            await _send(client, approved.key, [key_node], [key_variant], what)
            read_nodes.append(await self._target_node(client, target.applied_key_node, what))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + readback_timeout_s
        while True:
            try:
                raw = await client.read_values(read_nodes)
            except (TimeoutError, OSError, ConnectionError) as err:
                raise ConnectorNotReady(f"read-back of {approved.key} failed: {err}") from err
            except ua.UaStatusCodeError as err:
                raise ConnectorNotReady(f"read-back of {approved.key} refused: {err}") from err
            readback = typed.from_wire(raw[0], scale=target.scale, offset=target.offset)
            if target.keyless:
                holds = abs(readback - value) <= wire.tolerance
                applied = approved.key if holds else ""
            else:
                applied = str(raw[1] or "")
            result = WriteResult(
                key=approved.key,
                written_value=value,
                readback_value=readback,
                applied_key=applied,
                tolerance=wire.tolerance,
            )
            if result.verified or loop.time() >= deadline:
                return result
            await asyncio.sleep(0.02)

    async def _target_node(self, client: Client, text: str, what: str) -> Node:
        """A write target (node id, ``nsu=`` node id or browse path) as a Node, found once
        per session; WriteRefused when the server has no such node."""
        node = self._target_nodes.get(text)
        if node is not None:
            return node
        try:
            node = await find_node(client, text)
        except (ValueError, ua.UaStringParsingError, ua.UaStatusCodeError) as err:
            raise WriteRefused(
                f"{what}: no such node on {self._config.endpoint} ({err}); check it with "
                "gridaios browse"
            ) from err
        except (TimeoutError, OSError, ConnectionError) as err:
            raise ConnectorNotReady(f"{what}: {err}") from err
        self._target_nodes[text] = node
        return node

    async def _write_type(
        self, client: Client, node: Node, target: WriteTarget, what: str
    ) -> ua.VariantType:
        """The node's DataType as a Variant type (once per node), its write access checked."""
        if target.data_type is not None:
            forced = typed.NUMERIC_TYPES.get(target.data_type)
            if forced is None:
                raise WriteRefused(f"{what}: data_type {target.data_type} is not numeric")
            return forced
        cached = self._write_types.get(target.value_node)
        if cached is not None:
            return cached
        try:
            access, user_access, data_type = await _write_info(client, node)
        except ua.UaStatusCodeError as err:
            raise WriteRefused(f"{what}: cannot read the node's attributes: {err}") from err
        except (TimeoutError, OSError, ConnectionError) as err:
            raise ConnectorNotReady(f"{what}: {err}") from err
        if not typed.writable(access) or not typed.writable(user_access):
            raise WriteRefused(
                f"{what}: the node is not writable (AccessLevel {access}, UserAccessLevel "
                f"{user_access}); map a writable setpoint node"
            )
        if data_type is None or not typed.is_numeric(data_type):
            name = data_type.name if data_type is not None else "not a built-in type"
            raise WriteRefused(
                f"{what}: the node's DataType is {name}, not a number; map a numeric "
                "setpoint node, or set data_type on the point"
            )
        self._write_types[target.value_node] = data_type
        return data_type

    async def check_write_target(self, target: WriteTarget, *, numeric: bool = True) -> str | None:
        """Why a write to ``target`` would be refused (missing, not writable, not a number
        unless ``numeric`` is False: a key node), or None; nothing is written (probe)."""
        client = self._require_client()
        what = f"OPC UA source {self._config.id}: {target.value_node}"
        try:
            node = await self._target_node(client, target.value_node, what)
        except WriteRefused as err:
            return str(err)
        try:
            (exists,) = await client.read_attributes([node], ua.AttributeIds.NodeId)
            if not exists.StatusCode.is_good():
                return f"{what}: the node does not exist on {self._config.endpoint}"
            if numeric:
                await self._write_type(client, node, target, what)
                return None
            access, user_access, _ = await _write_info(client, node)
        except WriteRefused as err:
            return str(err)
        except ua.UaStatusCodeError as err:
            return f"{what}: {err}"
        if not typed.writable(access) or not typed.writable(user_access):
            return f"{what}: the node is not writable (AccessLevel {access})"
        return None

    @property
    def session(self) -> Client:
        """The connected asyncua client, for tools that read more than the points
        (gridaios browse); ConnectorNotReady when not connected."""
        return self._require_client()

    def _require_client(self) -> Client:
        if self._client is None or self.state is not ConnectionState.CONNECTED:
            raise ConnectorNotReady(f"OPC UA source {self._config.id} is not connected")
        return self._client

    async def close(self) -> None:
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await self._drop_client()
        self._set_state(ConnectionState.DISCONNECTED)


async def _quiet_disconnect(client: Client) -> None:
    try:
        await client.disconnect()
    except (*_NET_ERRORS, RuntimeError, AttributeError):
        log.debug("OPC UA disconnect failed", exc_info=True)


def _encoding(path: Path) -> str:
    """PEM or DER by content, whatever the file is called (asyncua goes by the suffix)."""
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError as err:
        raise ConnectorAuthFailed(f"cannot read {path}: {err.strerror}; check the path") from err
    return "pem" if b"-----BEGIN" in head else "der"


async def _write_info(client: Client, node: Node) -> tuple[int, int, ua.VariantType | None]:
    """AccessLevel, UserAccessLevel and the DataType as a Variant type (None: not built-in)."""
    access, user_access = [
        int(dv.Value.Value) if dv.Value is not None and dv.Value.Value is not None else 0
        for dv in [
            await _read_attribute(client, node, ua.AttributeIds.AccessLevel),
            await _read_attribute(client, node, ua.AttributeIds.UserAccessLevel),
        ]
    ]
    try:
        data_type: ua.VariantType | None = await node.read_data_type_as_variant_type()
    except (ValueError, KeyError):
        data_type = None
    return access, user_access, data_type


async def _read_attribute(client: Client, node: Node, attribute: ua.AttributeIds) -> ua.DataValue:
    (dv,) = await client.read_attributes([node], attribute)
    dv.StatusCode.check()
    return dv


async def _send(
    client: Client, key: str, nodes: list[Node], values: list[ua.Variant], what: str = ""
) -> None:
    """Write ``values`` to ``nodes`` in one request; permanent refusals (type, access,
    range: ``WriteRefused``), other refusals and lost links told apart."""
    try:
        await client.write_values(nodes, [ua.DataValue(v) for v in values])
    except ua.UaStatusCodeError as err:
        name = typed.refusal(err.code)
        if name is not None:
            raise WriteRefused(
                f"{what or 'write of ' + key}: the server refused it ({name})"
            ) from err
        raise WriteFailed(f"write of {key} refused by the server: {err}") from err
    except (TimeoutError, OSError, ConnectionError) as err:
        raise ConnectorNotReady(f"write of {key} failed: {err}") from err

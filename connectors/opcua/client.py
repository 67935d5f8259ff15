"""OPC UA client: subscribe to points, write approved commands with read-back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from asyncua import Client, Node, ua

from connectors.errors import ConnectorNotReady, UnknownPoint, WriteFailed
from connectors.opcua.config import OpcUaSourceConfig
from connectors.opcua.mapping import quality_of, utc
from connectors.sample import Sample
from safety import ApprovedCommand

log = logging.getLogger(__name__)


class ConnectionState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class PointBinding:
    point: str
    node_id: str
    unit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteTarget:
    """Where a command lands: the setpoint, the idempotency key, and the key the device applied."""

    value_node: str
    key_node: str
    applied_key_node: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteResult:
    key: str
    written_value: float
    readback_value: float
    applied_key: str

    @property
    def verified(self) -> bool:
        return self.applied_key == self.key and abs(self.readback_value - self.written_value) < 1e-6


class _Handler:
    def __init__(self, client: OpcUaClient) -> None:
        self._client = client

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        self._client._on_change(node, data.monitored_item.Value)


class OpcUaClient:
    """One connection to one OPC UA server, feeding samples to ``on_sample``."""

    def __init__(
        self,
        config: OpcUaSourceConfig,
        points: Sequence[PointBinding],
        on_sample: Callable[[Sample], None],
        clock: Callable[[], datetime],
    ) -> None:
        self._config = config
        self._points = list(points)
        self._on_sample = on_sample
        self._clock = clock
        self._client: Client | None = None
        self._by_node: dict[str, PointBinding] = {}
        self._seq = 0
        self.state = ConnectionState.DISCONNECTED

    async def connect(self) -> None:
        if self._config.security == "none":
            log.warning(
                "OPC UA source %s: connecting WITHOUT security to %s (allow_insecure is set)",
                self._config.id,
                self._config.endpoint,
            )
        self.state = ConnectionState.CONNECTING
        client = Client(url=self._config.endpoint, timeout=self._config.timeout_s)
        try:
            await client.connect()
        except (TimeoutError, OSError, ua.UaError) as err:
            self.state = ConnectionState.FAILED
            raise ConnectorNotReady(
                f"OPC UA source {self._config.id}: cannot connect to {self._config.endpoint}: {err}"
            ) from err
        self._client = client
        nodes = [client.get_node(p.node_id) for p in self._points]
        await self._check_nodes_exist(nodes)
        self._by_node = {n.nodeid.to_string(): p for n, p in zip(nodes, self._points, strict=True)}
        subscription = await client.create_subscription(
            self._config.publishing_interval_ms, _Handler(self)
        )
        # StatusValueTimestamp: a value that stays the same but is re-measured still
        # arrives, so staleness is judged on the device's own timestamps.
        trigger = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
        await subscription._subscribe(
            nodes,
            ua.AttributeIds.Value,
            mfilter=trigger,
            queuesize=1,
            sampling_interval=self._config.sampling_interval_ms,
        )
        self.state = ConnectionState.CONNECTED
        log.info("OPC UA source %s: subscribed to %d points", self._config.id, len(nodes))

    async def _check_nodes_exist(self, nodes: list[Node]) -> None:
        assert self._client is not None
        results = await self._client.read_attributes(nodes, ua.AttributeIds.NodeId)
        for node, result, binding in zip(nodes, results, self._points, strict=True):
            if not result.StatusCode.is_good():
                raise UnknownPoint(
                    f"OPC UA source {self._config.id}: node {node.nodeid.to_string()} for point "
                    f"{binding.point} does not exist on {self._config.endpoint}"
                )

    def _on_change(self, node: Node, value: ua.DataValue) -> None:
        binding = self._by_node.get(node.nodeid.to_string())
        if binding is None:
            return
        received = self._clock()
        raw = value.Value.Value if value.Value is not None else None
        self._seq += 1
        try:
            number = float(raw) if raw is not None else float("nan")
        except (TypeError, ValueError):
            number = float("nan")
        self._on_sample(
            Sample(
                point=binding.point,
                value=number,
                unit=binding.unit,
                quality=quality_of(value.StatusCode),
                source_ts=utc(value.SourceTimestamp, received),
                received_ts=received,
                sequence=self._seq,
            )
        )

    async def write(
        self, approved: ApprovedCommand, target: WriteTarget, *, readback_timeout_s: float = 5.0
    ) -> WriteResult:
        """Write setpoint and key in one request, then read back until the device applied it."""
        client = self._require_client()
        value_node = client.get_node(target.value_node)
        key_node = client.get_node(target.key_node)
        applied_node = client.get_node(target.applied_key_node)
        try:
            await client.write_values(
                [value_node, key_node],
                [
                    ua.DataValue(ua.Variant(float(approved.value), ua.VariantType.Double)),
                    ua.DataValue(ua.Variant(approved.key, ua.VariantType.String)),
                ],
            )
        except ua.UaStatusCodeError as err:
            raise WriteFailed(f"write of {approved.key} refused by the server: {err}") from err
        except (TimeoutError, OSError, ConnectionError) as err:
            raise ConnectorNotReady(f"write of {approved.key} failed: {err}") from err
        loop = asyncio.get_running_loop()
        deadline = loop.time() + readback_timeout_s
        while True:
            readback, applied = await client.read_values([value_node, applied_node])
            result = WriteResult(
                key=approved.key,
                written_value=float(approved.value),
                readback_value=float(readback),
                applied_key=str(applied or ""),
            )
            if result.verified or loop.time() >= deadline:
                return result
            await asyncio.sleep(0.02)

    def _require_client(self) -> Client:
        if self._client is None or self.state is not ConnectionState.CONNECTED:
            raise ConnectorNotReady(f"OPC UA source {self._config.id} is not connected")
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            try:
                await self._client.disconnect()
            except (TimeoutError, OSError, ConnectionError, ua.UaError):
                log.debug("OPC UA source %s: disconnect failed", self._config.id, exc_info=True)
            self._client = None
        self.state = ConnectionState.DISCONNECTED

"""OPC UA: data-change notifications/s from one subscription, gridaios vs a bare asyncua client.

A node-opcua server (tests/interop/node-opcua, another process; an asyncua server in
Python cannot produce changes fast enough) rewrites 2,000 variables every 10 ms. In this
process first a bare asyncua client (SubHandler counting calls) and then ``OpcUaClient``
(batch decode, normalize, latest-value table) subscribe to all of them in one
subscription and count notifications for a fixed window each.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

from asyncua import Client

from benchmarks.util import size
from connectors import Batch, PointBinding
from connectors.opcua import OpcUaClient, OpcUaSourceConfig
from tests.support.nodeopcua import node_opcua_server

VARIABLES = size(2000, 100)
WINDOW_S = size(8.0, 1.0)
PUBLISHING_MS = 20.0


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        self.count += 1


async def _bare(endpoint: str, ns: int) -> float:
    client = Client(endpoint)
    await client.connect()
    handler = _Counter()
    sub = await client.create_subscription(PUBLISHING_MS, handler)
    nodes = [client.get_node(f"ns={ns};s=v{i}") for i in range(VARIABLES)]
    await sub.subscribe_data_change(nodes, queuesize=1)
    await asyncio.sleep(1.0)  # settle: the initial values
    start, t0 = handler.count, time.perf_counter()
    await asyncio.sleep(WINDOW_S)
    rate = (handler.count - start) / (time.perf_counter() - t0)
    await client.disconnect()
    return rate


async def _ours(endpoint: str, ns: int) -> tuple[float, int]:
    count = 0

    def on_batch(batch: Batch) -> None:
        nonlocal count
        count += len(batch)

    config = OpcUaSourceConfig(
        id="bench", endpoint=endpoint, allow_insecure=True, publishing_interval_ms=PUBLISHING_MS
    )
    points = [
        PointBinding(point=f"v{i}", node_id=f"ns={ns};s=v{i}", unit="kW") for i in range(VARIABLES)
    ]
    client = OpcUaClient(config, points, None, lambda: datetime.now(UTC), on_batch=on_batch)
    await client.connect()
    await asyncio.sleep(1.0)
    start, t0 = count, time.perf_counter()
    await asyncio.sleep(WINDOW_S)
    rate = (count - start) / (time.perf_counter() - t0)
    live = len(client.normalizer)
    await client.close()
    return rate, live


def run() -> list[dict[str, Any]]:
    with node_opcua_server(fast=VARIABLES) as server:
        bare = asyncio.run(_bare(server.endpoint, server.ns))
        ours, live = asyncio.run(_ours(server.endpoint, server.ns))
    return [
        {
            "name": "opcua_notifications_per_s_one_subscription",
            "value": round(ours),
            "unit": "notifications/s",
            "baseline": round(bare),
            "ratio": round(ours / bare, 3) if bare else None,
            "note": f"{VARIABLES} variables rewritten every 10 ms by a node-opcua server in "
            f"another process; publishing {PUBLISHING_MS:g} ms; baseline = bare asyncua "
            f"SubHandler counting calls; {live} points live",
        }
    ]


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))

"""One verified dispatch (fsync'd events + OPC UA write + read-back) vs a bare asyncua write.

The baseline writes the same two nodes with asyncua directly, with no event log and
no read-back, on the same server in the same run: the ratio is what durability and
verification cost per command.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asyncua import Client, ua

from benchmarks.util import percentile, row
from runtime.conductor.loop import Conductor
from runtime.config import site
from runtime.config.model import load_config
from runtime.core.clock import FixedClock
from runtime.demo.feeder import DEFAULT_CONFIG, SCENARIO_DIR, free_port, with_endpoint
from runtime.log.eventlog import EventLog
from safety import Accepted, Command, CommandKind, Origin, evaluate
from simulator import VirtualField, load_scenario

N = 200


async def _measure(tmp: Path) -> list[dict[str, Any]]:
    at = datetime(2026, 7, 15, 18, 45, tzinfo=UTC)
    config = with_endpoint(
        load_config(DEFAULT_CONFIG), f"opc.tcp://127.0.0.1:{free_port()}/gridaios/field"
    )
    clock = FixedClock(at)
    field = VirtualField(
        site.field_spec(config),
        load_scenario("evening-peak", SCENARIO_DIR),
        clock,
        config.sources[0].endpoint,
        tick_s=0.001,
    )
    await field.start()
    task = asyncio.create_task(field.run(until=at + timedelta(days=1)))
    events = EventLog(tmp / "events.db")
    conductor = Conductor(config, events, clock)
    try:
        await conductor.connect()
        while conductor.state.snapshot().get("bat1.soc_pct") is None:
            await asyncio.sleep(0.01)
        ours: list[float] = []
        for i in range(N):
            command = Command(
                key=f"bench-{i}",
                asset="bat1",
                kind=CommandKind.ACTIVE_POWER_KW,
                value=float(i % 50),
                start=at,
                end=at + timedelta(minutes=5),
                origin=Origin.AGENT,
            )
            (verdict,) = evaluate([command], conductor.state.snapshot(), conductor.envelope, at)
            assert isinstance(verdict, Accepted)
            t0 = time.perf_counter()
            result = await conductor.send(verdict.approved, at)
            ours.append(time.perf_counter() - t0)
            assert result is not None and result.verified
        bare: list[float] = []
        async with Client(config.sources[0].endpoint) as client:
            value_node = client.get_node("ns=2;s=bat1.p_setpoint_kw")
            key_node = client.get_node("ns=2;s=bat1.cmd_key")
            for i in range(N):
                t0 = time.perf_counter()
                await client.write_values(
                    [value_node, key_node],
                    [
                        ua.DataValue(ua.Variant(float(i), ua.VariantType.Double)),
                        ua.DataValue(ua.Variant(f"bare-{i}", ua.VariantType.String)),
                    ],
                )
                bare.append(time.perf_counter() - t0)
    finally:
        task.cancel()
        await conductor.close()
        await field.stop()
        events.close()
    ms = 1000.0
    return [
        row(
            "dispatch_verified_p50",
            percentile(ours, 50) * ms,
            "ms",
            percentile(bare, 50) * ms,
            higher_is_better=False,
            samples=N,
        ),
        row(
            "dispatch_verified_p99",
            percentile(ours, 99) * ms,
            "ms",
            percentile(bare, 99) * ms,
            higher_is_better=False,
            samples=N,
        ),
    ]


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_measure(Path(tmp)))

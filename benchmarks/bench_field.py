"""Virtual field throughput: 1,000 points published at 1 Hz of simulated time.

333 batteries (p_kw, soc_pct, cmd_key_applied each) and the meter make 1,000
points on a real asyncua server. Each field step scans the writable nodes,
advances SimPy by one second (333 battery processes, the comms links) and
publishes every point. The issue's target is 1,000 points at 1 Hz on one
core, i.e. a step of at most 1 s; ``value`` is the sustained points per second.
The baseline, in the same run on the same server, is the bare cost of writing
the same 1,000 values with asyncua and nothing else.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from asyncua import ua

from benchmarks.util import row
from runtime.demo.feeder import free_port
from simulator import BatterySpec, FieldSpec, MeterSpec, Scenario, VirtualField

N_BATTERIES = 333
STEPS = 20


def _spec() -> FieldSpec:
    batteries = [
        BatterySpec(
            id=f"b{i}",
            capacity_kwh=100,
            max_charge_kw=50,
            max_discharge_kw=50,
            efficiency=0.95,
            initial_soc_pct=50,
            nodes={
                role: f"ns=2;s=b{i}.{role}"
                for role in ("p_kw", "soc_pct", "p_setpoint_kw", "cmd_key", "cmd_key_applied")
            },
        )
        for i in range(N_BATTERIES)
    ]
    meter = MeterSpec(id="meter", nodes={"p_kw": "ns=2;s=meter.p_kw"})
    return FieldSpec(meter=meter, batteries=batteries, profiles=[])


async def _measure() -> list[dict[str, Any]]:
    start = datetime(2026, 7, 15, 18, 0, tzinfo=UTC)
    scenario = Scenario(
        name="throughput",
        start=start,
        duration_s=3600,
        step_s=1,
        profiles={"base_load": [("18:00", 800.0), ("19:00", 900.0)]},
    )
    now = [start]
    field = VirtualField(
        _spec(), scenario, lambda: now[0], f"opc.tcp://127.0.0.1:{free_port()}/bench"
    )
    await field.start()
    try:
        points = len(field._nodes) - 2 * N_BATTERIES  # published (not command) nodes
        for _ in range(3):  # warm up
            now[0] += timedelta(seconds=1)
            await field.step(now[0])
        t0 = time.perf_counter()
        for _ in range(STEPS):
            now[0] += timedelta(seconds=1)
            await field.step(now[0])
        step_s = (time.perf_counter() - t0) / STEPS
        server = field._server
        assert server is not None
        published = {"p_kw", "soc_pct", "cmd_key_applied"}
        nodes = [(field._nodes[n], r) for n, r in field._role.items() if r in published]
        assert len(nodes) == points
        t0 = time.perf_counter()
        for k in range(STEPS):
            ts = start + timedelta(seconds=k)
            for node, role in nodes:
                variant = (
                    ua.Variant(f"key-{k}", ua.VariantType.String)
                    if role == "cmd_key_applied"
                    else ua.Variant(float(k), ua.VariantType.Double)
                )
                dv = ua.DataValue(variant, SourceTimestamp=ts, ServerTimestamp=ts)
                await server.iserver.aspace.write_attribute_value(node, ua.AttributeIds.Value, dv)
        raw_s = (time.perf_counter() - t0) / STEPS
    finally:
        await field.stop()
    return [
        row(
            "field.points_per_s",
            points / step_s,
            "points/s",
            points / raw_s,
            higher_is_better=True,
            baseline_name="bare asyncua writes of the same points",
            points=points,
            step_ms=round(step_s * 1000, 2),
            target="1000 points at 1 Hz: step <= 1000 ms",
        )
    ]


def run() -> list[dict[str, Any]]:
    return asyncio.run(_measure())

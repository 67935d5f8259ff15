"""The virtual field: a scenario run on SimPy, served over a real asyncua OPC UA server.

The runtime and the tests talk to it over the wire exactly as to a real site.
Each tick it scans writable nodes (like a PLC scan cycle), advances the SimPy
environment to the clock's time, and publishes every point with the simulated
source timestamp.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import simpy
from asyncua import Server, ua

from simulator.devices import AppliedCommand, Battery, FieldSpec
from simulator.scenario import Scenario

log = logging.getLogger(__name__)

NAMESPACE_URI = "urn:gridaios:virtual-field"


@dataclass(frozen=True, slots=True)
class MeterRecord:
    ts: datetime
    p_kw: float


class VirtualField:
    def __init__(
        self,
        spec: FieldSpec,
        scenario: Scenario,
        clock: Callable[[], datetime],
        endpoint: str,
        *,
        tick_s: float = 0.02,
    ) -> None:
        self.spec = spec
        self.scenario = scenario
        self._clock = clock
        self._endpoint = endpoint
        self._tick_s = tick_s
        self._env = simpy.Environment()
        self.batteries = {b.id: Battery(self._env, b, scenario.step_s) for b in spec.batteries}
        self._profiles = {p.id: scenario.profile_kw(p.id) for p in spec.profiles}
        self._base_load = scenario.profile_kw("base_load")
        self._curtail_pct: dict[str, float] = {p.id: 0.0 for p in spec.profiles}
        self._server: Server | None = None
        self._nodes: dict[str, ua.NodeId] = {}
        self._last_key: dict[str, str] = {}
        self.meter_history: list[MeterRecord] = []
        self.ready = asyncio.Event()

    # --- public -----------------------------------------------------------

    def ledger(self, battery_id: str) -> list[AppliedCommand]:
        """Every command the device applied, in order (the device-side truth)."""
        return list(self.batteries[battery_id].ledger)

    def baseline_net_kw(self) -> list[float]:
        """Net feeder load at every step with no dispatch (the no-action baseline)."""
        net = self._base_load.copy()
        for p in self.spec.profiles:
            sign = -1.0 if p.kind == "pv" else 1.0
            net = net + sign * self._profiles[p.id]
        return [float(x) for x in net]

    async def start(self) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self._endpoint)
        server.set_server_name("gridaios virtual field")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace(NAMESPACE_URI)
        objects = server.nodes.objects
        for role_nodes, writable in self._all_nodes():
            for role, node_str in role_nodes.items():
                node_id = ua.NodeId.from_string(node_str)
                if node_id.NamespaceIndex != idx:
                    raise ValueError(
                        f"node {node_str}: the virtual field serves namespace index {idx} "
                        f"({NAMESPACE_URI}); use ns={idx}"
                    )
                is_key = role.startswith("cmd_key")
                initial = ua.Variant(
                    "" if is_key else 0.0,
                    ua.VariantType.String if is_key else ua.VariantType.Double,
                )
                var = await objects.add_variable(node_id, node_id.Identifier, initial)
                if role in writable:
                    await var.set_writable()
                self._nodes[node_str] = node_id
        await server.start()
        self._server = server
        await self._publish(self._clock())
        self.ready.set()
        log.info("virtual field serving %d points on %s", len(self._nodes), self._endpoint)

    async def run(self, until: datetime | None = None) -> None:
        """Advance and publish until ``until`` (default: the scenario's end)."""
        end = until or self.scenario.end
        while True:
            now = self._clock()
            await self.step(now)
            if now >= end:
                return
            await asyncio.sleep(self._tick_s)

    async def step(self, now: datetime) -> None:
        self._scan_writes(now)
        elapsed = min((now - self.scenario.start).total_seconds(), self.scenario.duration_s)
        if elapsed > self._env.now:
            self._env.run(until=elapsed)
        await self._publish(now)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    # --- internals --------------------------------------------------------

    def _all_nodes(self) -> list[tuple[dict[str, str], set[str]]]:
        out: list[tuple[dict[str, str], set[str]]] = [(self.spec.meter.nodes, set())]
        for b in self.spec.batteries:
            out.append((b.nodes, {"p_setpoint_kw", "cmd_key"}))
        for p in self.spec.profiles:
            out.append((p.nodes, {"curtail_pct"}))
        return out

    def _read(self, node_str: str) -> Any:
        assert self._server is not None
        dv = self._server.iserver.aspace.read_attribute_value(
            self._nodes[node_str], ua.AttributeIds.Value
        )
        return dv.Value.Value if dv.Value is not None else None

    async def _write(self, node_str: str, value: object, ts: datetime) -> None:
        assert self._server is not None
        vtype = ua.VariantType.String if isinstance(value, str) else ua.VariantType.Double
        dv = ua.DataValue(ua.Variant(value, vtype), SourceTimestamp=ts, ServerTimestamp=ts)
        await self._server.iserver.aspace.write_attribute_value(
            self._nodes[node_str], ua.AttributeIds.Value, dv
        )

    def _scan_writes(self, now: datetime) -> None:
        if self._server is None:
            return
        for spec in self.spec.batteries:
            key = str(self._read(spec.nodes["cmd_key"]) or "")
            if key and key != self._last_key.get(spec.id):
                self._last_key[spec.id] = key
                value = self._read(spec.nodes["p_setpoint_kw"])
                self.batteries[spec.id].offer_command(key, float(value or 0.0), now)
        for p in self.spec.profiles:
            node = p.nodes.get("curtail_pct")
            if node is not None and p.curtailable:
                self._curtail_pct[p.id] = min(max(float(self._read(node) or 0.0), 0.0), 100.0)

    async def _publish(self, now: datetime) -> None:
        if self._server is None:
            return
        i = self.scenario.step_index(now)
        ts = self.scenario.start + timedelta(seconds=self._env.now)
        net_kw = float(self._base_load[i])
        for p in self.spec.profiles:
            p_kw = float(self._profiles[p.id][i]) * (1.0 - self._curtail_pct[p.id] / 100.0)
            net_kw += -p_kw if p.kind == "pv" else p_kw
            await self._write(p.nodes["p_kw"], p_kw, ts)
        for spec in self.spec.batteries:
            battery = self.batteries[spec.id]
            net_kw -= battery.p_kw
            await self._write(spec.nodes["p_kw"], battery.p_kw, ts)
            await self._write(spec.nodes["soc_pct"], battery.soc_pct, ts)
            await self._write(spec.nodes["cmd_key_applied"], battery.applied_key, ts)
        await self._write(self.spec.meter.nodes["p_kw"], net_kw, ts)
        if not self.meter_history or self.meter_history[-1].ts != ts:
            self.meter_history.append(MeterRecord(ts=ts, p_kw=net_kw))

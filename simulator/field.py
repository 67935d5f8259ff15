"""The virtual field: a scenario run on SimPy, served over a real asyncua OPC UA server.

The runtime and the tests talk to it over the wire exactly as to a real site.
Each tick it scans writable nodes (like a PLC scan cycle), advances the SimPy
environment to the clock's time, and publishes every point with the simulated
source timestamp.

Between the devices and the OPC UA server (the site gateway) sits the
scenario's link: telemetry and commands pass through ``CommsLink`` processes
(latency, jitter, loss; nothing during a ``comms_loss``), so during an outage
the served values keep their old source timestamps (stale to the runtime) and
commands written to the gateway never reach the device (its applied key does
not change, so read-back verification fails). A device that is offline is
served with its last value and a Bad status; frozen telemetry keeps its value
while timestamps keep coming. With a ``network`` the substation meter is the
slack power of a real power flow (losses included), every bus voltage point
(``FieldSpec.bus_voltages``) reads its bus's voltage from it, and line trips re-solve it.
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
from simulator.dynamics import CommsLink, FaultSchedule
from simulator.fieldgrid import FieldGrid, check_fits
from simulator.network import Network, NetworkError
from simulator.scenario import EventKind, Scenario, ScenarioError, ScenarioEvent

log = logging.getLogger(__name__)

NAMESPACE_URI = "urn:gridaios:virtual-field"
BAD = ua.StatusCode(ua.StatusCodes.BadNoCommunication)
WAITING = ua.StatusCode(ua.StatusCodes.BadWaitingForInitialData)


@dataclass(frozen=True, slots=True)
class MeterRecord:
    ts: datetime
    p_kw: float


@dataclass(frozen=True, slots=True)
class _Telemetry:
    ts: datetime
    values: dict[str, float | str]  # node -> value


# (status, value the device holds, reason) -> publish an ack; status as in the wire format
Reply = Callable[[str, float, str], None]
# (source timestamp, [(device, role, value, bad)]) for every delivered telemetry batch
TelemetryListener = Callable[[datetime, list[tuple[str, str, float | str, bool]]], None]


@dataclass(frozen=True, slots=True)
class _Write:
    asset: str
    role: str  # p_setpoint_kw | curtail_pct
    key: str
    value: float
    reply: Reply | None = None


class VirtualField:
    def __init__(
        self,
        spec: FieldSpec,
        scenario: Scenario,
        clock: Callable[[], datetime],
        endpoint: str,
        *,
        tick_s: float = 0.02,
        network: Network | None = None,
    ) -> None:
        self.spec = spec
        self.scenario = scenario
        self._clock = clock
        self._endpoint = endpoint
        self._tick_s = tick_s
        self._env = simpy.Environment()
        self.faults = FaultSchedule(self._env, scenario)
        link_down = lambda: self.faults.active(EventKind.COMMS_LOSS)  # noqa: E731
        self.uplink: CommsLink[_Telemetry] = CommsLink(
            self._env, scenario.comms, is_down=link_down, seed=scenario.seed, name="telemetry"
        )
        self.downlink: CommsLink[_Write] = CommsLink(
            self._env, scenario.comms, is_down=link_down, seed=scenario.seed, name="commands"
        )
        self.batteries = {
            b.id: Battery(self._env, b, scenario.step_s, response_delay_s=scenario.response_delay_s)
            for b in spec.batteries
        }
        self.grid = FieldGrid(network) if network is not None else None
        if self.grid is None and any(e.kind is EventKind.LINE_TRIP for e in scenario.events):
            raise ScenarioError(
                f"scenario {scenario.name}: line_trip events need the field's network "
                "(pass network=..., or --network on the command line)"
            )
        if network is not None:
            check_fits(network, spec, scenario)
        elif spec.bus_voltages:
            log.warning(
                "virtual field without a network: bus voltage point(s) %s are not served "
                "(they wait for initial data); pass network=... (--network) to measure them",
                ", ".join(f"{b.owner}.{b.role}" for b in spec.bus_voltages),
            )
        self.faults.on_change(self._on_fault)
        self._profiles = {p.id: scenario.profile_kw(p.id) for p in spec.profiles}
        self._base_load = scenario.profile_kw("base_load")
        self._load_profiles = (
            {ld.profile: scenario.profile_kw(ld.profile) for ld in network.loads}
            if network is not None
            else {}
        )
        self._curtail_pct: dict[str, float] = {p.id: 0.0 for p in spec.profiles}
        self._server: Server | None = None
        self._nodes: dict[str, ua.NodeId] = {}
        self._owner: dict[str, str] = {}
        self._role: dict[str, str] = {}
        self._listeners: list[TelemetryListener] = []
        self._curtail_keys: set[str] = set()
        # The curtailment register of each curtailable device: its node reads back the
        # curtailment in force (published like telemetry, 0 % from the start) and takes
        # writes; _curtail_node is what the node last held, so a client write is the change.
        self._curtail_nodes = {
            p.id: p.nodes["curtail_pct"]
            for p in spec.profiles
            if p.curtailable and "curtail_pct" in p.nodes
        }
        self._curtail_node: dict[str, float] = {}
        self._shown: dict[str, float | str] = {}
        self._frozen: dict[str, float | str] = {}
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

    def stats(self) -> dict[str, Any]:
        """Link counters and the fault log, for tests and for the operator."""
        return {
            "telemetry": dict(self.uplink.counts),
            "commands": dict(self.downlink.counts),
            "faults": [
                {"at_s": t, "edge": edge, "kind": e.kind.value, "element": e.element}
                for t, edge, e in self.faults.log
            ],
        }

    def add_telemetry_listener(self, listener: TelemetryListener) -> None:
        """Called with every telemetry batch the link delivers (e.g. the MQTT side)."""
        self._listeners.append(listener)

    def submit_write(
        self, asset: str, role: str, key: str, value: float, reply: Reply | None = None
    ) -> None:
        """A command from another protocol (MQTT): it takes the same link as OPC UA writes."""
        self.downlink.send(_Write(asset=asset, role=role, key=key, value=value, reply=reply))

    def now(self) -> datetime:
        return self._clock()

    async def start(self) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self._endpoint)
        server.set_server_name("gridaios virtual field")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace(NAMESPACE_URI)
        objects = server.nodes.objects
        for owner, role_nodes, writable in self._all_nodes():
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
                self._owner[node_str] = owner
                self._role[node_str] = role
        await server.start()
        self._server = server
        # Until the first telemetry arrives (a link may delay it), every point says so,
        # stamped with the scenario start: never a wall-clock stamp newer than the data.
        for node_str in self._nodes:
            is_key = self._role[node_str].startswith("cmd_key")
            await self._write(
                node_str, "" if is_key else 0.0, self.scenario.start, bad=True, status=WAITING
            )
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
        self._apply_writes(now)
        await self._publish(now)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    # --- internals --------------------------------------------------------

    def _all_nodes(self) -> list[tuple[str, dict[str, str], set[str]]]:
        out: list[tuple[str, dict[str, str], set[str]]] = [
            (self.spec.meter.id, self.spec.meter.nodes, set())
        ]
        for b in self.spec.batteries:
            out.append((b.id, b.nodes, {"p_setpoint_kw", "cmd_key"}))
        for p in self.spec.profiles:
            out.append((p.id, p.nodes, {"curtail_pct"}))
        listed = {node for _owner, nodes, _w in out for node in nodes.values()}
        for bus in self.spec.bus_voltages:  # a voltage point of an asset not served otherwise
            if bus.node not in listed:
                out.append((bus.owner, {bus.role: bus.node}, set()))
                listed.add(bus.node)
        return out

    def _offline(self, element: str) -> bool:
        if self.faults.active(EventKind.DEVICE_OFFLINE, element):
            return True
        return self.grid is not None and not self.grid.energized(element)

    def _on_fault(self, event: ScenarioEvent, on: bool) -> None:
        log.info("fault %s %s %s", event.kind.value, event.element, "starts" if on else "ends")
        if event.kind is EventKind.LINE_TRIP and self.grid is not None:
            self.grid.set_branch(event.element, not on)
        for battery_id, battery in self.batteries.items():
            battery.online = not self._offline(battery_id)

    def _read(self, node_str: str) -> Any:
        assert self._server is not None
        dv = self._server.iserver.aspace.read_attribute_value(
            self._nodes[node_str], ua.AttributeIds.Value
        )
        return dv.Value.Value if dv.Value is not None else None

    async def _write(
        self,
        node_str: str,
        value: object,
        ts: datetime,
        *,
        bad: bool,
        status: ua.StatusCode = BAD,
    ) -> None:
        assert self._server is not None
        vtype = ua.VariantType.String if isinstance(value, str) else ua.VariantType.Double
        dv = ua.DataValue(
            ua.Variant(value, vtype),
            StatusCode_=status if bad else ua.StatusCode(ua.StatusCodes.Good),
            SourceTimestamp=ts,
            ServerTimestamp=ts,
        )
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
                value = float(self._read(spec.nodes["p_setpoint_kw"]) or 0.0)
                self.downlink.send(
                    _Write(asset=spec.id, role="p_setpoint_kw", key=key, value=value)
                )
        self._apply_writes(now)
        for p in self.spec.profiles:
            self._take_curtail_write(p.id)

    def _take_curtail_write(self, asset: str) -> bool:
        """A client wrote the asset's curtail_pct node (it differs from what the node last
        held): the device takes the new value. True when a write was found."""
        node = self._curtail_nodes.get(asset)
        if node is None or self.faults.active(EventKind.COMMS_LOSS):
            return False  # the gateway cannot reach the devices: the write waits in the node
        written = float(self._read(node) or 0.0)
        if written == self._curtail_node.get(asset, 0.0):
            return False
        self._curtail_node[asset] = written
        if self._offline(asset):
            log.warning("%s is offline: curtail_pct %g not applied", asset, written)
        else:
            self._curtail_pct[asset] = min(max(written, 0.0), 100.0)
        return True

    def _apply_writes(self, now: datetime) -> None:
        for delivered in self.downlink.receive():
            write = delivered.item
            status, held, reason = self._apply(write, now)
            if write.reply is not None:
                write.reply(status, held, reason)

    def _apply(self, write: _Write, now: datetime) -> tuple[str, float, str]:
        if write.role == "p_setpoint_kw" and write.asset in self.batteries:
            battery = self.batteries[write.asset]
            if battery.offer_command(write.key, write.value, now):
                return "applied", write.value, ""
            if battery.has_seen(write.key):
                return "duplicate", battery.setpoint_kw, "key seen before; not re-applied"
            return "rejected", battery.setpoint_kw, f"{write.asset} is offline"
        if write.role == "curtail_pct" and write.asset in self._curtail_pct:
            if write.key in self._curtail_keys:
                return "duplicate", self._curtail_pct[write.asset], "key seen before"
            if self._offline(write.asset):
                return "rejected", self._curtail_pct[write.asset], f"{write.asset} is offline"
            self._curtail_keys.add(write.key)
            self._curtail_pct[write.asset] = min(max(write.value, 0.0), 100.0)
            return "applied", self._curtail_pct[write.asset], ""
        return "rejected", float("nan"), f"{write.asset}.{write.role} is not writable"

    def _truth(self, i: int) -> tuple[dict[str, float | str], float]:
        """What every device reads at step ``i`` (before the link), and the meter."""
        values: dict[str, float | str] = {}
        device_kw: dict[str, float] = {}
        net_kw = float(self._base_load[i])
        for p in self.spec.profiles:
            p_kw = float(self._profiles[p.id][i]) * (1.0 - self._curtail_pct[p.id] / 100.0)
            dark = self.grid is not None and not self.grid.energized(p.id)
            if dark or (p.kind == "pv" and self._offline(p.id)):
                p_kw = 0.0  # unserved, or a PV inverter that tripped
            elif self._offline(p.id):  # a load whose DR controller is offline: back to full
                p_kw = float(self._profiles[p.id][i])
            device_kw[p.id] = p_kw
            net_kw += -p_kw if p.kind == "pv" else p_kw
            values[p.nodes["p_kw"]] = p_kw
            if "curtail_pct" in p.nodes:  # the inverter/controller reports what it runs
                values[p.nodes["curtail_pct"]] = self._curtail_pct[p.id]
        for spec in self.spec.batteries:
            battery = self.batteries[spec.id]
            device_kw[spec.id] = battery.p_kw
            net_kw -= battery.p_kw
            values[spec.nodes["p_kw"]] = battery.p_kw
            values[spec.nodes["soc_pct"]] = battery.soc_pct
            values[spec.nodes["cmd_key_applied"]] = battery.applied_key
        if self.grid is not None:
            loads = {name: float(arr[i]) for name, arr in self._load_profiles.items()}
            try:
                net_kw = self.grid.meter_kw(loads, device_kw)
            except NetworkError as err:  # no solution: voltage points not refreshed (stale)
                log.error("virtual field: %s", err)
            else:
                for bus in self.spec.bus_voltages:
                    vm_pu = self.grid.bus_vm_pu(bus.bus)
                    if vm_pu is not None:
                        values[bus.node] = vm_pu
        values[self.spec.meter.nodes["p_kw"]] = net_kw
        return values, net_kw

    async def _publish(self, now: datetime) -> None:
        if self._server is None:
            return
        i = self.scenario.step_index(now)
        ts = self.scenario.start + timedelta(seconds=self._env.now)
        values, net_kw = self._truth(i)
        if not self.meter_history or self.meter_history[-1].ts != ts:
            self.meter_history.append(MeterRecord(ts=ts, p_kw=net_kw))
        self.uplink.send(_Telemetry(ts=ts, values=values))
        for delivered in self.uplink.receive():
            telemetry = delivered.item
            batch: list[tuple[str, str, float | str, bool]] = []
            for node, value in telemetry.values.items():
                owner = self._owner[node]
                shown = value
                bad = self._offline(owner)
                if bad:
                    shown = self._shown.get(node, value)
                elif self.faults.active(EventKind.FROZEN_TELEMETRY, owner):
                    shown = self._frozen.setdefault(node, self._shown.get(node, value))
                else:
                    self._frozen.pop(node, None)
                self._shown[node] = shown
                batch.append((owner, self._role[node], shown, bad))
                if owner in self._curtail_nodes and node == self._curtail_nodes[owner]:
                    if self._take_curtail_write(owner):
                        continue  # written since this telemetry: the node keeps the write
                    self._curtail_node[owner] = 0.0 if bad else float(shown)  # bad reads null
                await self._write(node, shown, telemetry.ts, bad=bad)
            for listener in self._listeners:
                listener(telemetry.ts, batch)

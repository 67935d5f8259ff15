"""The virtual field's electrical side: the substation meter from a real power flow.

Given each device's output at one instant, it places loads and DERs on their
buses (by id, as in the network YAML), solves the power flow and reports what
the substation meter would read, losses included, and each bus's voltage. A line
trip re-solves on what is still energized; loads beyond the open point go unserved.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from simulator.devices import FieldSpec
from simulator.network import Network, NetworkError
from simulator.powerflow import PowerFlowResult, Prepared, prepare, solve
from simulator.scenario import Scenario, ScenarioError

log = logging.getLogger(__name__)


class FieldGrid:
    def __init__(self, network: Network) -> None:
        self._base = network
        self._tripped: set[str] = set()
        self.dead_buses: tuple[str, ...] = ()
        self._net = network
        self._prepared: Prepared = prepare(network)
        self.last: PowerFlowResult | None = None

    def set_branch(self, branch_id: str, in_service: bool) -> None:
        if branch_id not in self._base.branch_ids:
            raise NetworkError(f"network {self._base.name}: unknown branch {branch_id!r}")
        if in_service:
            self._tripped.discard(branch_id)
        else:
            self._tripped.add(branch_id)
        net, dead = self._base, tuple[str, ...]()
        for branch in sorted(self._tripped):
            if branch in net.branch_ids:
                net, more = net.with_branch_status_energized(branch, False)
                dead = (*dead, *more)
        self._net, self.dead_buses = net, dead
        self._prepared = prepare(net)
        log.info(
            "field network: branch %s %s; de-energized buses: %s",
            branch_id,
            "closed" if in_service else "tripped",
            ", ".join(dead) or "none",
        )

    def meter_kw(
        self,
        profiles_kw: Mapping[str, float],
        device_kw: Mapping[str, float],
    ) -> float:
        """Substation import (kW) with loads from ``profiles_kw`` (profile name -> kW)
        and DER outputs from ``device_kw`` (id -> kW, > 0 generation / discharge for
        PV and batteries, > 0 consumption for flexible loads)."""
        net = self._net
        p_mw, q_mvar = net.p_load_mw.copy(), net.q_load_mvar.copy()
        for load in net.loads:
            kw = load.share * profiles_kw.get(load.profile, 0.0)
            i = net.bus_index(load.bus)
            p_mw[i] += kw / 1000.0
            q_mvar[i] += kw / 1000.0 * float(np.tan(np.arccos(load.power_factor)))
        for flex in net.flex_loads:
            kw = device_kw.get(flex.id, 0.0)
            i = net.bus_index(flex.bus)
            p_mw[i] += kw / 1000.0
            q_mvar[i] += kw / 1000.0 * float(np.tan(np.arccos(flex.power_factor)))
        for pv in net.pvs:
            p_mw[net.bus_index(pv.bus)] -= device_kw.get(pv.id, 0.0) / 1000.0
        for bat in net.batteries:
            p_mw[net.bus_index(bat.bus)] -= device_kw.get(bat.id, 0.0) / 1000.0
        result = solve(self._prepared, p_mw, q_mvar)
        self.last = result
        if not result.converged:
            raise NetworkError(f"field power flow: {result.message}")
        return result.slack_p_kw

    def bus_vm_pu(self, bus_id: str) -> float | None:
        """The bus's voltage from the last power flow: 0 on a de-energized bus, None before
        a converged solution (or for a bus the network does not have)."""
        if bus_id in self.dead_buses:
            return 0.0
        if self.last is None or not self.last.converged:
            return None
        return self.last.bus_vm_pu.get(bus_id)

    def energized(self, device_id: str) -> bool:
        """Whether a device's bus is still fed (a device beyond an open point is dark)."""
        buses = {d.id: d.bus for d in self._base.pvs}
        buses.update({d.id: d.bus for d in self._base.batteries})
        buses.update({d.id: d.bus for d in self._base.flex_loads})
        bus = buses.get(device_id)
        return bus is None or bus not in self.dead_buses


def check_fits(network: Network, spec: FieldSpec, scenario: Scenario) -> None:
    """The network, the site's devices and the scenario fit together, or say what is missing."""
    missing = sorted({ld.profile for ld in network.loads} - set(scenario.profiles))
    if missing:
        raise ScenarioError(
            f"scenario {scenario.name}: network {network.name} has loads following "
            f"profile(s) {', '.join(missing)} that the scenario does not define"
        )
    placed = {d.id for d in network.batteries} | {d.id for d in network.pvs}
    placed |= {d.id for d in network.flex_loads}
    devices = {b.id for b in spec.batteries} | {p.id for p in spec.profiles}
    unplaced = sorted(devices - placed)
    if unplaced:
        raise NetworkError(
            f"network {network.name}: site device(s) {', '.join(unplaced)} have no bus; "
            "add them under batteries / pv / flex_loads"
        )
    for bus in spec.bus_voltages:
        if bus.bus not in network.bus_ids:
            raise NetworkError(
                f"network {network.name}: point {bus.owner}.{bus.role} measures bus "
                f"{bus.bus!r}, which the network does not have; known: "
                f"{', '.join(network.bus_ids[:10])}{' ...' if network.n_bus > 10 else ''}"
            )

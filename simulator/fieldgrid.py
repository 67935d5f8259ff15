"""The virtual field's electrical side: the substation meter from a real power flow.

Given each device's output at one instant, it places loads and DERs on their
buses (by id, as in the network YAML), solves the power flow and reports what
the substation meter would read, losses included. A line trip re-solves on what
is still energized; loads beyond the open point go unserved.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from simulator.network import Network, NetworkError
from simulator.powerflow import PowerFlowResult, Prepared, prepare, solve

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

    def energized(self, device_id: str) -> bool:
        """Whether a device's bus is still fed (a device beyond an open point is dark)."""
        buses = {d.id: d.bus for d in self._base.pvs}
        buses.update({d.id: d.bus for d in self._base.batteries})
        buses.update({d.id: d.bus for d in self._base.flex_loads})
        bus = buses.get(device_id)
        return bus is None or bus not in self.dead_buses

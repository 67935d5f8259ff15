"""Voltage sensitivities from the power flow: how far each bus voltage moves per kW (and per
kvar) an asset injects, around the network's nominal snapshot.

The safety gate's voltage check is linear (``bus pu + sum(coeff * change in output)``); a site
either declares the coefficients or has them worked out here from its own network. Central
differences on the real power flow: ``+delta`` and ``-delta`` of injection at the asset's bus,
every perturbation solved in one batch. Injection is the gate's sign: a battery discharging, a
load curtailed, a PV producing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from simulator.network import FloatArray, Network, NetworkError
from simulator.powerflow import solve_batch

DELTA_KW = 10.0  # small against a feeder's load, large against the solver's 1e-9 pu tolerance


@dataclass(frozen=True, slots=True)
class Sensitivities:
    """``pu_per_kw[a, b]``: the change of bus ``b``'s voltage per kW asset ``a`` injects."""

    network: str
    buses: tuple[str, ...]
    assets: tuple[str, ...]
    asset_buses: tuple[str, ...]  # where each asset connects
    pu_per_kw: FloatArray  # (assets, buses)
    pu_per_kvar: FloatArray
    base_vm_pu: FloatArray  # (buses): the nominal snapshot's voltages
    delta_kw: float

    def per_kw(self, asset: str, bus: str) -> float:
        return float(self.pu_per_kw[self.assets.index(asset), self.buses.index(bus)])

    def per_kvar(self, asset: str, bus: str) -> float:
        return float(self.pu_per_kvar[self.assets.index(asset), self.buses.index(bus)])

    def as_json(self) -> dict[str, object]:
        return {
            "network": self.network,
            "delta_kw": self.delta_kw,
            "base_vm_pu": dict(zip(self.buses, self.base_vm_pu.tolist(), strict=True)),
            "assets": {
                asset: {
                    "bus": bus,
                    "pu_per_kw": dict(zip(self.buses, self.pu_per_kw[i].tolist(), strict=True)),
                    "pu_per_kvar": dict(zip(self.buses, self.pu_per_kvar[i].tolist(), strict=True)),
                }
                for i, (asset, bus) in enumerate(zip(self.assets, self.asset_buses, strict=True))
            },
        }


def der_buses(net: Network) -> dict[str, str]:
    """Every controllable element of the network (PV, battery, flexible load) and its bus."""
    out = {x.id: x.bus for x in net.pvs}
    out.update((x.id, x.bus) for x in net.batteries)
    out.update((x.id, x.bus) for x in net.flex_loads)
    return out


def voltage_sensitivities(
    net: Network, assets: Mapping[str, str] | None = None, *, delta_kw: float = DELTA_KW
) -> Sensitivities:
    """Sensitivities of every bus to each asset (``{asset: bus}``; default: the network's DERs).

    Raises ``NetworkError`` naming the asset or the snapshot when an asset's bus is unknown or
    a perturbed power flow does not converge (a linearisation there would mean nothing)."""
    placed = dict(assets) if assets is not None else der_buses(net)
    names = tuple(sorted(placed))
    index = [net.bus_index(placed[a]) for a in names]  # NetworkError names an unknown bus
    p0, q0 = net.nominal_loads()
    step_mw = delta_kw / 1000.0
    n = len(names)
    # rows: the base, then per asset +P, -P, +Q, -Q of injection (= minus load)
    p = np.repeat(p0[None, :], 1 + 4 * n, axis=0)
    q = np.repeat(q0[None, :], 1 + 4 * n, axis=0)
    for k, bus in enumerate(index):
        row = 1 + 4 * k
        p[row, bus] -= step_mw
        p[row + 1, bus] += step_mw
        q[row + 2, bus] -= step_mw
        q[row + 3, bus] += step_mw
    result = solve_batch(net, p, q)
    if not result.converged.all():
        bad = int(np.flatnonzero(~result.converged)[0])
        what = "the nominal snapshot" if bad == 0 else f"{names[(bad - 1) // 4]} perturbed"
        raise NetworkError(
            f"network {net.name}: no voltage sensitivities, the power flow of {what} failed: "
            f"{result.failure(bad)}"
        )
    vm = result.vm_pu
    up_p, down_p = vm[1::4], vm[2::4]
    up_q, down_q = vm[3::4], vm[4::4]
    return Sensitivities(
        network=net.name,
        buses=net.bus_ids,
        assets=names,
        asset_buses=tuple(placed[a] for a in names),
        pu_per_kw=(up_p - down_p) / (2.0 * delta_kw),
        pu_per_kvar=(up_q - down_q) / (2.0 * delta_kw),
        base_vm_pu=vm[0],
        delta_kw=delta_kw,
    )

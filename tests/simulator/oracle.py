"""pandapower as an oracle: the same network, solved by pandapower's Newton-Raphson."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from simulator.network import Network


def to_ppc(net: Network) -> dict[str, object]:
    """The network as a MATPOWER-style ppc dict (bus numbers 1..n in bus order)."""
    n = net.n_bus
    bus = np.zeros((n, 13))
    bus[:, 0] = np.arange(1, n + 1)
    bus[:, 1] = 1
    bus[net.slack, 1] = 3
    p_mw, q_mvar = net.nominal_loads()
    bus[:, 2] = p_mw
    bus[:, 3] = q_mvar
    bus[:, 4] = net.gs_mw
    bus[:, 5] = net.bs_mvar
    bus[:, 6] = 1
    bus[:, 7] = 1.0
    bus[:, 9] = np.where(net.base_kv > 0, net.base_kv, 12.66)
    bus[:, 10] = 1
    bus[:, 11] = 1.1
    bus[:, 12] = 0.9
    gen = np.zeros((1, 21))
    gen[0, 0] = net.slack + 1
    gen[0, 5] = net.slack_vm_pu
    gen[0, 6] = net.base_mva
    gen[0, 7] = 1
    gen[0, 8] = 100
    gen[0, 3] = 100
    gen[0, 4] = -100
    nl = net.n_branch
    branch = np.zeros((nl, 13))
    branch[:, 0] = net.f_bus + 1
    branch[:, 1] = net.t_bus + 1
    branch[:, 2] = net.r_pu
    branch[:, 3] = net.x_pu
    branch[:, 4] = net.b_pu
    branch[:, 5] = net.rating_mva
    branch[:, 8] = np.where(net.tap == 1.0, 0.0, net.tap)
    branch[:, 9] = net.shift_deg
    branch[:, 10] = net.in_service.astype(float)
    branch[:, 11] = -360
    branch[:, 12] = 360
    return {"version": "2", "baseMVA": net.base_mva, "bus": bus, "gen": gen, "branch": branch}


def pandapower_vm(net: Network) -> np.ndarray:
    """Bus voltage magnitudes (pu, in bus order) computed by pandapower's runpp."""
    pp = pytest.importorskip("pandapower")
    from pandapower.converter.pypower import from_ppc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pnet = from_ppc(to_ppc(net), f_hz=50, validate_conversion=False)
        pp.runpp(pnet, numba=False, tolerance_mva=1e-10, max_iteration=50)
    return pnet.res_bus.vm_pu.to_numpy()

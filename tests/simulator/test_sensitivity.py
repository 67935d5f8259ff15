"""Voltage sensitivities from the power flow: they predict what a full solve says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator import NetworkError, load_network, solve
from simulator.sensitivity import der_buses, voltage_sensitivities

DEMO_NET = Path(__file__).resolve().parents[2] / "configs" / "networks" / "demo-feeder.yaml"


@pytest.fixture(scope="module")
def net():  # type: ignore[no-untyped-def]
    return load_network(DEMO_NET)


@pytest.mark.parametrize(("asset", "kw", "kvar"), [("bat1", 100.0, 0.0), ("pv1", 0.0, 80.0)])
def test_linear_prediction_matches_the_power_flow(net, asset: str, kw: float, kvar: float) -> None:  # type: ignore[no-untyped-def]
    sens = voltage_sensitivities(net)
    p, q = net.nominal_loads()
    bus = net.bus_index(der_buses(net)[asset])
    p[bus] -= kw / 1000.0  # injection lowers the bus's net load
    q[bus] -= kvar / 1000.0
    base = np.array(list(solve(net).bus_vm_pu.values()))
    moved = np.array(list(solve(net, p, q).bus_vm_pu.values()))
    i = sens.assets.index(asset)
    predicted = sens.pu_per_kw[i] * kw + sens.pu_per_kvar[i] * kvar
    actual = moved - base
    assert np.all(actual[1:] > 0)  # injecting raises every bus below the slack
    np.testing.assert_allclose(predicted[1:], actual[1:], rtol=0.03)
    assert predicted[0] == 0.0  # the slack holds its voltage


def test_an_asset_moves_its_own_lateral_most(net) -> None:  # type: ignore[no-untyped-def]
    sens = voltage_sensitivities(net)
    assert sens.per_kw("bat1", "n4") > sens.per_kw("bat1", "n6")  # bat1 is on n4's lateral
    assert sens.per_kw("pv1", "n6") > sens.per_kw("pv1", "n4")
    assert sens.per_kvar("bat1", "n4") > sens.per_kw("bat1", "n4")  # X/R > 1 on this feeder
    assert sens.as_json()["assets"]["bat1"]["bus"] == "n4"  # type: ignore[index]


def test_unknown_bus_and_collapse_are_errors_that_say_where(net) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NetworkError, match="nowhere"):
        voltage_sensitivities(net, {"bat1": "nowhere"})
    p, q = net.nominal_loads()
    heavy = net.with_loads(net.p_load_mw + 60 * p, net.q_load_mvar + 60 * q)
    with pytest.raises(NetworkError, match=r"no voltage sensitivities.*nominal snapshot"):
        voltage_sensitivities(heavy)

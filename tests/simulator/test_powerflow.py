from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.matpower import load_matpower, parse_matpower
from simulator.network import Network, NetworkError
from simulator.powerflow import prepare, solve, solve_batch
from tests.simulator.oracle import pandapower_vm

CASE33 = Path(__file__).resolve().parents[2] / "configs" / "networks" / "case33bw.m"


@pytest.fixture(scope="module")
def case33() -> Network:
    return load_matpower(CASE33)


def vm_of(net: Network) -> np.ndarray:
    result = solve(net)
    assert result.converged, result.message
    return np.array([result.bus_vm_pu[b] for b in net.bus_ids])


def test_baran_wu_base_case_losses_and_minimum_voltage(case33: Network) -> None:
    result = solve(case33)
    assert result.converged
    assert result.method == "bfs"
    assert result.losses_kw == pytest.approx(202.7, rel=0.005)
    assert result.vmin_pu == pytest.approx(0.9131, rel=0.005)
    assert result.vmin_bus == "18"
    assert result.vmax_bus == "1"
    assert result.max_loading_pct is None  # the paper gives no ratings
    # the substation supplies the 3,715 kW of load plus the losses
    assert result.slack_p_kw == pytest.approx(3715.0 + result.losses_kw, abs=1e-3)


def test_agrees_with_pandapower_case33bw_directly(case33: Network) -> None:
    pp = pytest.importorskip("pandapower")
    import pandapower.networks as pn

    pnet = pn.case33bw()
    pp.runpp(pnet, numba=False, tolerance_mva=1e-10)
    assert np.max(np.abs(vm_of(case33) - pnet.res_bus.vm_pu.to_numpy())) < 1e-4
    assert solve(case33).losses_kw == pytest.approx(pnet.res_line.pl_mw.sum() * 1000, rel=1e-6)


def with_ties(net: Network, *ties: str) -> Network:
    for tie in ties:
        net = net.with_branch_status(tie, True)
    return net


@pytest.mark.parametrize(
    "ties", [("33",), ("33", "35"), ("33", "34", "35", "36", "37")], ids=["1loop", "2loops", "5"]
)
def test_weakly_meshed_agrees_with_pandapower(case33: Network, ties: tuple[str, ...]) -> None:
    net = with_ties(case33, *ties)
    assert net.topology() == "meshed"
    assert solve(net).method == "zbus"
    assert np.max(np.abs(vm_of(net) - pandapower_vm(net))) < 1e-4


def modified_case(mutate: str) -> Network:
    """case33bw with extra lines appended to mpc.branch or replacing rows."""
    text = CASE33.read_text()
    head, tail = text.split("mpc.branch = [\n", 1)
    rows, rest = tail.split("];", 1)
    lines = rows.splitlines()
    if mutate == "parallel":
        lines.append("\t2\t3\t0.0615\t0.0313\t0\t0\t0\t0\t0\t0\t1\t-360\t360;")
    elif mutate == "transformer":  # off-nominal tap on the head branch, plus charging
        lines[0] = "\t1\t2\t0.00575\t0.0293\t0\t5\t0\t0\t0.975\t0\t1\t-360\t360;"
        lines[5] = lines[5].replace("\t0\t0\t0\t0\t0\t0\t1", "\t0.002\t0\t0\t0\t0\t0\t1")
    elif mutate == "shifter":
        lines[0] = "\t1\t2\t0.00575\t0.0293\t0\t0\t0\t0\t1.0\t2.0\t1\t-360\t360;"
    return parse_matpower(head + "mpc.branch = [\n" + "\n".join(lines) + "\n" + "];" + rest)


def test_radial_sweep_with_line_charging_and_bus_shunts_agrees_with_pandapower() -> None:
    lines = CASE33.read_text().splitlines()
    bus0 = lines.index("mpc.bus = [") + 1
    for k in (bus0 + 17, bus0 + 32):  # capacitor banks at buses 18 and 33: Bs = 0.3 MVAr
        cols = lines[k].split("\t")
        cols[6] = "0.3"
        lines[k] = "\t".join(cols)
    br0 = lines.index("mpc.branch = [") + 1
    for k in range(br0, br0 + 32):  # cable charging on every in-service line
        cols = lines[k].split("\t")
        cols[5] = "0.004"
        lines[k] = "\t".join(cols)
    net = parse_matpower("\n".join(lines))
    assert net.topology() == "radial"
    result = solve(net)
    assert result.method == "bfs"
    assert result.vmin_pu > 0.9131  # the capacitors lift the far end
    assert np.max(np.abs(vm_of(net) - pandapower_vm(net))) < 1e-4


@pytest.mark.parametrize("mutate", ["parallel", "transformer", "shifter"])
def test_parallel_branches_and_transformers_agree_with_pandapower(mutate: str) -> None:
    net = modified_case(mutate)
    assert net.topology() == "meshed"
    assert np.max(np.abs(vm_of(net) - pandapower_vm(net))) < 1e-4


def test_transformer_rating_gives_loading(case33: Network) -> None:
    result = solve(modified_case("transformer"))
    assert result.max_loading_branch == "1"
    assert result.max_loading_pct is not None
    assert 85 < result.max_loading_pct < 100  # 3.9 MW + 2.4 Mvar through a 5 MVA unit


def test_heavy_load_still_converges_and_matches_pandapower(case33: Network) -> None:
    heavy = case33.with_loads(case33.p_load_mw * 3.0, case33.q_load_mvar * 3.0)
    result = solve(heavy)
    assert result.converged and result.vmin_pu < 0.7
    assert np.max(np.abs(vm_of(heavy) - pandapower_vm(heavy))) < 1e-4


@pytest.mark.parametrize("ties", [(), ("33", "35")], ids=["radial", "meshed"])
def test_newton_fallback_solves_what_the_sweep_leaves(
    case33: Network, ties: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    import simulator.powerflow as pf

    monkeypatch.setattr(pf, "MAX_SWEEPS", 2)  # the sweep gives up: Newton must finish
    net = with_ties(case33, *ties)
    result = solve(net)
    assert result.converged and result.method == "newton"
    assert np.max(np.abs(vm_of(net) - pandapower_vm(net))) < 1e-4


def test_beyond_voltage_collapse_is_not_converged_and_names_a_bus(case33: Network) -> None:
    hopeless = case33.with_loads(case33.p_load_mw * 12, case33.q_load_mvar * 12)
    result = solve(hopeless)
    assert not result.converged
    assert "did not converge" in result.message
    assert "at bus " in result.message


def test_batch_equals_one_by_one(case33: Network) -> None:
    scale = np.linspace(0.2, 1.4, 12)[:, None]
    p = case33.p_load_mw[None, :] * scale
    q = case33.q_load_mvar[None, :] * scale
    batch = solve_batch(prepare(case33), p, q)
    assert batch.converged.all()
    for i in range(len(scale)):
        single = solve(case33, p[i], q[i])
        assert np.allclose(batch.vm_pu[i], list(single.bus_vm_pu.values()), atol=1e-10)
        assert batch.losses_kw[i] == pytest.approx(single.losses_kw)


# --- bad networks: refused with the element named --------------------------------------


def edit_row(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def test_disconnected_bus_is_named() -> None:
    lines = CASE33.read_text().splitlines()  # open branch 17 (17-18): bus 18 is cut off
    i = next(k for k, line in enumerate(lines) if line.startswith("\t17\t18\t"))
    lines[i] = lines[i].replace("\t1\t-360", "\t0\t-360")
    with pytest.raises(NetworkError, match=r"bus 18 not connected to the slack bus 1"):
        parse_matpower("\n".join(lines))


def test_zero_impedance_branch_is_named() -> None:
    lines = CASE33.read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("\t3\t4\t"))
    cols = lines[i].split("\t")
    cols[3], cols[4] = "0", "0"
    lines[i] = "\t".join(cols)
    with pytest.raises(NetworkError, match=r"branch 3 \(3-4\): zero impedance"):
        parse_matpower("\n".join(lines))


def test_negative_impedance_is_named() -> None:
    lines = CASE33.read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("\t5\t6\t"))
    cols = lines[i].split("\t")
    cols[3] = "-0.01"
    lines[i] = "\t".join(cols)
    with pytest.raises(NetworkError, match=r"branch 5 \(5-6\): negative impedance"):
        parse_matpower("\n".join(lines))


def test_missing_slack_is_refused() -> None:
    text = edit_row(CASE33.read_text(), "\t1\t3\t0\t0", "\t1\t1\t0\t0")
    with pytest.raises(NetworkError, match=r"no slack bus \(type 3\)"):
        parse_matpower(text)


def test_matlab_code_is_refused_not_ignored() -> None:
    text = CASE33.read_text() + "\nmpc.branch(:, [3 4]) = mpc.branch(:, [3 4]) / 16.03;\n"
    with pytest.raises(NetworkError, match=r"is MATLAB code, not case data"):
        parse_matpower(text, source="case33bw.m")


def test_version_1_is_refused() -> None:
    text = CASE33.read_text().replace("mpc.version = '2';", "mpc.version = '1';")
    with pytest.raises(NetworkError, match=r"version '2'"):
        parse_matpower(text)


def test_unknown_bus_in_branch_is_named() -> None:
    text = edit_row(CASE33.read_text(), "\t6\t7\t", "\t6\t70\t")
    with pytest.raises(NetworkError, match=r"branch 6: unknown bus 70"):
        parse_matpower(text)


def test_non_numeric_cell_is_named() -> None:
    text = edit_row(CASE33.read_text(), "\t6\t7\t", "\t6\tseven\t")
    with pytest.raises(NetworkError, match=r"mpc.branch row 6: 'seven' is not a number"):
        parse_matpower(text)


@settings(max_examples=40, deadline=None)
@given(
    factors=st.lists(st.floats(0.0, 2.0), min_size=33, max_size=33),
    closed=st.sets(st.sampled_from(["33", "34", "35", "36", "37"]), max_size=3),
)
def test_power_balance_holds_for_any_loading(factors: list[float], closed: set[str]) -> None:
    """Whatever the loads and ties: the substation supplies loads plus losses, losses are
    non-negative, and with loads only no voltage rises above the source."""
    net = with_ties(load_matpower(CASE33), *sorted(closed))
    f = np.array(factors)
    result = solve(net, net.p_load_mw * f, net.q_load_mvar * f)
    assert result.converged
    assert result.losses_kw >= -1e-9
    load_kw = float((net.p_load_mw * f).sum() * 1000)
    assert result.slack_p_kw == pytest.approx(load_kw + result.losses_kw, abs=1e-4)
    assert result.vmax_pu <= net.slack_vm_pu + 1e-9


def test_cli_reports_non_convergence_naming_a_bus(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    lines = CASE33.read_text().splitlines()
    start = lines.index("mpc.bus = [") + 1
    for k in range(start, start + 33):  # every load x12: beyond voltage collapse
        cols = lines[k].split("\t")
        cols[3], cols[4] = str(float(cols[3]) * 12), str(float(cols[4]) * 12)
        lines[k] = "\t".join(cols)
    case = tmp_path / "collapse.m"
    case.write_text("\n".join(lines))
    gridaios = str(Path(sys.executable).parent / "gridaios")
    out = subprocess.run(
        [gridaios, "sim", "powerflow", "--case", str(case), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 1
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["converged"] is False
    assert "did not converge" in result["message"] and "at bus " in result["message"]

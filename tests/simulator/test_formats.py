from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.network import NetworkError
from simulator.netyaml import load_network, load_network_yaml
from simulator.powerflow import solve
from tests.simulator.oracle import pandapower_vm

REPO = Path(__file__).resolve().parents[2]
NETWORKS = REPO / "configs" / "networks"


def gridaios(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "gridaios"), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def test_cli_powerflow_json_on_case33() -> None:
    out = gridaios("sim", "powerflow", "--case", str(NETWORKS / "case33bw.m"), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["converged"] is True
    assert result["iterations"] >= 1
    assert result["losses_kw"] == pytest.approx(202.7, rel=0.005)
    assert result["vmin_pu"] == pytest.approx(0.9131, rel=0.005)
    assert result["vmin_bus"] == "18"
    assert result["vmax_bus"] == "1"
    assert "max_loading_pct" in result and "vmax_pu" in result
    assert sorted(result["bus_vm_pu"], key=int) == [str(i) for i in range(1, 34)]
    assert result["bus_vm_pu"]["18"] == result["vmin_pu"]


def test_cli_powerflow_text_on_yaml_feeder() -> None:
    out = gridaios("sim", "powerflow", "--case", str(NETWORKS / "demo-feeder.yaml"))
    assert out.returncode == 0, out.stderr
    assert "converged    True" in out.stdout
    assert "(T1)" in out.stdout  # the transformer is the most loaded branch


def test_cli_powerflow_bad_case_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.m"
    text = (NETWORKS / "case33bw.m").read_text().replace("\t1\t3\t0\t0", "\t1\t1\t0\t0")
    bad.write_text(text)
    out = gridaios("sim", "powerflow", "--case", str(bad), "--json")
    assert out.returncode == 2
    assert json.loads(out.stdout.strip().splitlines()[-1])["converged"] is False
    assert "no slack bus" in out.stderr


def test_yaml_feeder_agrees_with_pandapower() -> None:
    net = load_network(NETWORKS / "demo-feeder.yaml")
    result = solve(net)
    vm = [result.bus_vm_pu[b] for b in net.bus_ids]
    assert max(abs(a - b) for a, b in zip(vm, pandapower_vm(net), strict=True)) < 1e-4


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "net.yaml"
    path.write_text(text)
    return path


BASE = """
network:
  name: t
  slack: {bus: a}
  buses:
    - {id: a, base_kv: 11}
    - {id: b, base_kv: 11}
    - {id: c, base_kv: 0.4}
  transformers:
    - {id: T, hv_bus: b, lv_bus: c, rating_kva: 400, r_pct: 1, x_pct: 4}
  lines:
    - {id: L1, from: a, to: b, r_ohm: 0.5, x_ohm: 0.4}
  loads:
    - {id: l, bus: c, p_kw: 200, q_kvar: 50}
"""


def test_yaml_small_network_solves(tmp_path: Path) -> None:
    result = solve(load_network_yaml(write(tmp_path, BASE)))
    assert result.converged
    assert result.slack_p_kw > 200 and result.vmin_bus == "c"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("to: b, r_ohm: 0.5", "to: c, r_ohm: 0.5"), "L1 joins a (11 kV) and c (0.4 kV)"),
        (("to: b, r_ohm: 0.5", "to: zz, r_ohm: 0.5"), "lines[0] L1: unknown bus 'zz'"),
        (("slack: {bus: a}", "slack: {bus: q}"), "slack.bus 'q' is not one of the buses"),
        (("r_ohm: 0.5, x_ohm: 0.4", "r_ohm: 0, x_ohm: 0"), "branch L1 (a-b): zero impedance"),
        (("r_ohm: 0.5", "r_ohm: -0.5"), "branch L1 (a-b): negative impedance"),
        (("rating_kva: 400", "rating_kva: -4"), "network.transformers.0.rating_kva"),
        (("p_kw: 200", "p_kw: 200, colour: red"), "network.loads.0.colour: Extra inputs"),
        (("  lines:", "  linez:"), "network.linez"),
    ],
)
def test_yaml_bad_networks_are_named(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    with pytest.raises(NetworkError, match=re.escape(message)):
        load_network_yaml(write(tmp_path, BASE.replace(*edit)))


def test_disconnected_yaml_bus(tmp_path: Path) -> None:
    text = BASE.replace(
        "{id: T, hv_bus: b, lv_bus: c,", "{id: T, hv_bus: b, lv_bus: c, in_service: false,"
    )
    with pytest.raises(NetworkError, match="bus c not connected to the slack bus a"):
        load_network_yaml(write(tmp_path, text))


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match=r"unknown network format '\.json'"):
        load_network(tmp_path / "x.json")


def test_cli_validate_heat_wave_names_the_overload_and_writes_a_plot(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            [
                {
                    "asset": "bat1",
                    "value": 200,
                    "start": "2026-07-22T18:00:00+00:00",
                    "end": "2026-07-22T19:30:00+00:00",
                }
            ]
        )
    )
    png = tmp_path / "report.png"
    out = gridaios(
        "sim", "validate", "--network", str(NETWORKS / "demo-feeder.yaml"),
        "--scenario", "heat-wave", "--plan", str(plan), "--soc", "bat1=90",
        "--png", str(png), "--json",
    )  # fmt: skip
    assert out.returncode == 1, out.stderr  # not ok: the transformer is still overloaded
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["ok"] is False and report["converged"] is True
    assert {(v["kind"], v["element"]) for v in report["violations"]} == {("thermal", "T1")}
    kpis = report["kpis"]
    assert kpis["plan"]["peak_import_kw"] < kpis["baseline"]["peak_import_kw"]
    assert png.read_bytes().startswith(b"\x89PNG")


def test_cli_validate_bad_plan_is_refused(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([{"asset": "bat1", "value": 1}]))
    out = gridaios(
        "sim", "validate", "--network", str(NETWORKS / "demo-feeder.yaml"), "--plan", str(plan)
    )
    assert out.returncode == 2
    assert "each command needs asset, value, start, end" in out.stderr

"""Power flow on Baran & Wu's 33-bus feeder: gridaios' numpy solver vs pandapower's runpp.

Both solve the same network (pandapower's own ``case33bw()``, and our parse of
``configs/networks/case33bw.m``) in the same process; the answers are checked to
agree before any time is reported. Rows:

* ``solve``: one snapshot on a prepared network (Y-bus and sweep matrices built
  once, as the validation and the field use it), the issue's <= 1 ms target;
* ``solve_cold``: the same including preparing the network from scratch;
* ``meshed``: the same with all five tie switches closed (Z-bus method).

pandapower runs without numba (not installed on the edge box); its ``runpp``
includes its own model conversion, which is what a caller pays per solve.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.util import row, size
from simulator import load_matpower, prepare, solve

CASE = Path(__file__).resolve().parent.parent / "configs" / "networks" / "case33bw.m"


def _per_call_ms(fn: Callable[[], object], *, repeat: int, rounds: int = 5) -> float:
    repeat, rounds = size((repeat, rounds), (2, 1))
    """Median over rounds of the mean time per call, in ms."""
    fn()  # warm up
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        samples.append((time.perf_counter() - t0) / repeat * 1000.0)
    return statistics.median(samples)


def run() -> list[dict[str, Any]]:
    import pandapower as pp
    import pandapower.networks as pn

    warnings.simplefilter("ignore")
    net = load_matpower(CASE)
    meshed = net
    for tie in ("33", "34", "35", "36", "37"):
        meshed = meshed.with_branch_status(tie, True)
    ours = solve(net)
    ref = pn.case33bw()
    pp.runpp(ref, numba=False)
    gap = float(
        np.max(np.abs(np.array(list(ours.bus_vm_pu.values())) - ref.res_bus.vm_pu.to_numpy()))
    )
    if gap > 1e-4 or abs(ours.losses_kw - 202.68) > 1.0:
        raise AssertionError(f"answers disagree: max |dV| {gap:g} pu, losses {ours.losses_kw}")
    ref_meshed = pn.case33bw()
    ref_meshed.line["in_service"] = True

    prepared, prepared_meshed = prepare(net), prepare(meshed)
    ours_ms = _per_call_ms(lambda: solve(prepared), repeat=200)
    cold_ms = _per_call_ms(lambda: solve(net), repeat=100)
    meshed_ms = _per_call_ms(lambda: solve(prepared_meshed), repeat=200)
    pp_ms = _per_call_ms(lambda: pp.runpp(ref, numba=False), repeat=10)
    pp_meshed_ms = _per_call_ms(lambda: pp.runpp(ref_meshed, numba=False), repeat=10)
    common = {"baseline_name": "pandapower.runpp (numba=False)", "max_dv_pu": gap}
    return [
        row("powerflow.case33.solve", ours_ms, "ms", pp_ms, higher_is_better=False, **common),
        row("powerflow.case33.solve_cold", cold_ms, "ms", pp_ms, higher_is_better=False, **common),
        row(
            "powerflow.case33.meshed",
            meshed_ms,
            "ms",
            pp_meshed_ms,
            higher_is_better=False,
            baseline_name="pandapower.runpp (numba=False), 5 ties closed",
        ),
    ]

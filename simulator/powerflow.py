"""AC power flow for distribution feeders, vectorized with numpy.

Methods, chosen per network and per snapshot:

* ``bfs`` — backward/forward sweep in matrix form for radial feeders with
  nominal ratios: branch currents ``J = T @ I`` (backward), voltage drops
  ``dV = T.T @ (z * J)`` (forward), all snapshots of a horizon at once.
* ``zbus`` — the implicit Z-bus Gauss method ``V = Z_LL (I(V) - Y_Ls V_s)``
  for weakly meshed feeders, parallel branches and off-nominal transformers.
* ``newton`` — dense Newton-Raphson (polar), the fallback for any snapshot the
  fixed-point sweep did not converge on (heavy loading, high R/X).

A snapshot that converges under none of them is reported as not converged, with
the bus of the largest power mismatch; it is never returned as a valid answer.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController

from simulator.network import FloatArray, Network, tree_paths

ComplexArray = NDArray[np.complex128]
Method = Literal["bfs", "zbus", "newton"]

TOL_PU = 1e-9  # max power mismatch in pu (1e-8 MVA on a 10 MVA base)
MAX_SWEEPS = 200
MAX_NEWTON = 25


@dataclass(frozen=True, slots=True, eq=False)
class Prepared:
    """What a solve needs that depends only on the network: build once, solve many."""

    net: Network
    ybus: ComplexArray
    yf: ComplexArray  # branch from-end current per bus voltage (n_branch, n_bus)
    yt: ComplexArray
    y_shunt: ComplexArray  # bus shunts plus line charging, pu
    method: Method
    sweep: ComplexArray  # bfs: T.T @ diag(z) @ T ; zbus: inv(Y_LL) (padded to n x n)
    v0: complex


@dataclass(frozen=True, slots=True, eq=False)
class BatchResult:
    """A horizon of snapshots; arrays are (snapshots, buses) or (snapshots, branches)."""

    net: Network
    method: Method
    newton: NDArray[np.bool_]  # snapshots the sweep left to the Newton fallback
    converged: NDArray[np.bool_]
    iterations: NDArray[np.int64]
    mismatch_pu: FloatArray
    worst_bus: NDArray[np.int64]
    v: ComplexArray
    s_from_mva: ComplexArray
    s_to_mva: ComplexArray
    s_slack_mva: ComplexArray

    @property
    def vm_pu(self) -> FloatArray:
        return np.abs(self.v)

    @property
    def losses_kw(self) -> FloatArray:
        out: FloatArray = (self.s_from_mva + self.s_to_mva).real.sum(axis=1) * 1000.0
        return out

    @property
    def loading_pct(self) -> FloatArray:
        """Branch loading in % of rating; NaN for unrated (rating 0) branches."""
        rating = self.net.rating_mva
        flow = np.maximum(np.abs(self.s_from_mva), np.abs(self.s_to_mva))
        with np.errstate(divide="ignore", invalid="ignore"):
            out: FloatArray = np.where(rating > 0, 100.0 * flow / rating, np.nan)
        return out

    def failure(self, i: int) -> str:
        """Why snapshot ``i`` did not converge, naming the bus of the largest mismatch."""
        bus = self.net.bus_ids[int(self.worst_bus[i])]
        return (
            f"power flow did not converge after {int(self.iterations[i])} iterations "
            f"({self.method} then newton); largest mismatch {self.mismatch_pu[i]:.3g} pu at "
            f"bus {bus}: the load there is beyond what the feeder can carry (voltage "
            "collapse) or the data near it is wrong"
        )


def prepare(net: Network) -> Prepared:
    nb, nl = net.n_bus, net.n_branch
    live = net.in_service.astype(float)
    ys = live / (net.r_pu + 1j * net.x_pu + (1 - live))  # out-of-service: 0 (guarded divide)
    bc = live * net.b_pu
    ratio = net.tap * np.exp(1j * np.deg2rad(net.shift_deg))
    ytt = ys + 0.5j * bc
    yff = ytt / (ratio * np.conj(ratio))
    yft = -ys / np.conj(ratio)
    ytf = -ys / ratio
    rows = np.arange(nl)
    yf = np.zeros((nl, nb), dtype=complex)
    yt = np.zeros((nl, nb), dtype=complex)
    yf[rows, net.f_bus] = yff
    yf[rows, net.t_bus] = yft
    yt[rows, net.f_bus] = ytf
    yt[rows, net.t_bus] = ytt
    cf = np.zeros((nl, nb))
    ct = np.zeros((nl, nb))
    cf[rows, net.f_bus] = 1.0
    ct[rows, net.t_bus] = 1.0
    y_bus_shunt = (net.gs_mw + 1j * net.bs_mvar) / net.base_mva
    ybus = cf.T @ yf + ct.T @ yt + np.diag(y_bus_shunt)
    charging = np.zeros(nb, dtype=complex)
    np.add.at(charging, net.f_bus, 0.5j * bc)
    np.add.at(charging, net.t_bus, 0.5j * bc)
    y_shunt = y_bus_shunt + charging
    method: Method = "bfs" if net.topology() == "radial" else "zbus"
    if method == "bfs":
        paths = tree_paths(net)
        z = net.r_pu + 1j * net.x_pu
        sweep = paths.T @ (z[:, None] * paths)
    else:
        load = np.flatnonzero(np.arange(nb) != net.slack)
        sweep = np.zeros((nb, nb), dtype=complex)
        sweep[np.ix_(load, load)] = np.linalg.inv(ybus[np.ix_(load, load)])
    v0 = complex(net.slack_vm_pu)
    return Prepared(
        net=net,
        ybus=np.asarray(ybus, dtype=np.complex128),
        yf=yf,
        yt=yt,
        y_shunt=np.asarray(y_shunt, dtype=np.complex128),
        method=method,
        sweep=np.asarray(sweep, dtype=np.complex128),
        v0=v0,
    )


def solve_batch(
    net: Network | Prepared,
    p_mw: FloatArray | None = None,
    q_mvar: FloatArray | None = None,
) -> BatchResult:
    """Solve every snapshot: ``p_mw`` / ``q_mvar`` are net bus loads, shape (T, n_bus).

    Without them the network's nominal snapshot is solved.
    """
    prep = net if isinstance(net, Prepared) else prepare(net)
    grid = prep.net
    if p_mw is None or q_mvar is None:
        p_nominal, q_nominal = grid.nominal_loads()
        p_mw = p_nominal if p_mw is None else p_mw
        q_mvar = q_nominal if q_mvar is None else q_mvar
    p = np.atleast_2d(p_mw).astype(float)
    q = np.atleast_2d(q_mvar).astype(float)
    if p.shape != q.shape or p.shape[1] != grid.n_bus:
        raise ValueError(
            f"p_mw {p.shape} and q_mvar {q.shape} must both be (snapshots, {grid.n_bus})"
        )
    s_inj = -(p + 1j * q).T / grid.base_mva  # (n, T), injections in pu
    with _one_blas_thread():
        return _solve(prep, s_inj)


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def _one_blas_thread() -> AbstractContextManager[object]:
    """Small dense products: BLAS threads only fight each other (and the runtime's
    event loop) on a 2-core edge box. Measured on 576 snapshots of the 33-bus case:
    4 ms single-threaded against 17-250 ms with OpenBLAS threads on a busy box."""
    limit: AbstractContextManager[object] = _blas().limit(limits=1, user_api="blas")
    return limit


def _solve(prep: Prepared, s_inj: ComplexArray) -> BatchResult:
    grid = prep.net
    v, iters, ok = _fixed_point(prep, s_inj)
    mismatch, worst = _mismatch(prep, v, s_inj)
    todo = np.flatnonzero(~ok | (mismatch > 1e3 * TOL_PU))
    newton = np.zeros(ok.size, dtype=bool)
    newton[todo] = True
    for i in todo:
        v_i, n_i, ok_i = _newton(prep, s_inj[:, i], v[:, i] if ok[i] else None)
        v[:, i] = v_i
        iters[i] += n_i
        ok[i] = ok_i
    if todo.size:
        mismatch, worst = _mismatch(prep, v, s_inj)
    ok &= mismatch <= 1e3 * TOL_PU
    vt = v.T
    s_from = vt[:, grid.f_bus] * np.conj(vt @ prep.yf.T) * grid.base_mva
    s_to = vt[:, grid.t_bus] * np.conj(vt @ prep.yt.T) * grid.base_mva
    s_slack = vt[:, grid.slack] * np.conj(vt @ prep.ybus[grid.slack]) * grid.base_mva
    return BatchResult(
        net=grid,
        method=prep.method,
        newton=newton,
        converged=ok,
        iterations=iters,
        mismatch_pu=mismatch,
        worst_bus=worst,
        v=vt,
        s_from_mva=s_from,
        s_to_mva=s_to,
        s_slack_mva=s_slack,
    )


def _fixed_point(
    prep: Prepared, s_inj: ComplexArray
) -> tuple[ComplexArray, NDArray[np.int64], NDArray[np.bool_]]:
    """Sweep every snapshot together until each one's voltage update is below tolerance.

    Snapshots that have converged keep being swept with the rest (a fixed point
    maps to itself), which keeps the loop free of per-snapshot bookkeeping.
    """
    n, t = s_inj.shape
    slack = prep.net.slack
    v = np.full((n, t), prep.v0, dtype=complex)
    iters = np.zeros(t, dtype=np.int64)
    done = np.zeros(t, dtype=bool)
    shunt = prep.y_shunt[:, None] if np.any(prep.y_shunt) else None
    s_conj = np.conj(s_inj)
    v_s_term = (prep.ybus[:, slack] * prep.v0)[:, None]  # zbus: Y_Ls V_s
    with np.errstate(all="ignore"):
        for _ in range(MAX_SWEEPS):
            if prep.method == "bfs":
                draw = s_conj / np.conj(v)  # = -conj(S_load / V): minus the drawn current
                if shunt is not None:
                    draw -= shunt * v
                new = prep.v0 + prep.sweep @ draw
            else:
                new = prep.sweep @ (s_conj / np.conj(v) - v_s_term)
                new[slack] = prep.v0
            step = np.abs(new - v).max(axis=0)
            v = new
            iters += ~done
            done |= step < TOL_PU
            if done.all() or not np.isfinite(step).any():
                break
    vm = np.abs(v)
    ok = done & np.isfinite(vm).all(axis=0) & (vm.max(axis=0) < 10.0) & (vm.min(axis=0) > 1e-3)
    v = np.where(np.isfinite(v), v, prep.v0)
    return v, iters, ok


def _mismatch(
    prep: Prepared, v: ComplexArray, s_inj: ComplexArray
) -> tuple[FloatArray, NDArray[np.int64]]:
    """Largest bus power mismatch per snapshot (pu) and the bus where it is."""
    with np.errstate(all="ignore"):
        mis = np.nan_to_num(np.abs(v * np.conj(prep.ybus @ v) - s_inj), nan=np.inf)
    mis[prep.net.slack] = 0.0
    worst: NDArray[np.int64] = np.argmax(mis, axis=0).astype(np.int64)
    out: FloatArray = mis.max(axis=0)
    return out, worst


def _newton(
    prep: Prepared, s_inj: ComplexArray, v_start: ComplexArray | None
) -> tuple[ComplexArray, int, bool]:
    """Dense polar Newton-Raphson on one snapshot; every non-slack bus is PQ."""
    y = prep.ybus
    n = prep.net.n_bus
    pq = np.flatnonzero(np.arange(n) != prep.net.slack)
    v = np.full(n, prep.v0, dtype=complex) if v_start is None else v_start.copy()
    vm, va = np.abs(v), np.angle(v)
    for it in range(MAX_NEWTON + 1):
        v = vm * np.exp(1j * va)
        ibus = y @ v
        mis = v * np.conj(ibus) - s_inj
        f = np.concatenate([mis[pq].real, mis[pq].imag])
        if not np.all(np.isfinite(f)):
            return v, it, False
        if np.max(np.abs(f)) < TOL_PU:
            return v, it, True
        if it == MAX_NEWTON:
            break
        vnorm = v / np.abs(v)
        ds_dvm = v[:, None] * np.conj(y * vnorm[None, :]) + np.diag(np.conj(ibus) * vnorm)
        ds_dva = 1j * v[:, None] * np.conj(np.diag(ibus) - y * v[None, :])
        sub = np.ix_(pq, pq)
        jac = np.block([[ds_dva[sub].real, ds_dvm[sub].real], [ds_dva[sub].imag, ds_dvm[sub].imag]])
        try:
            dx = np.linalg.solve(jac, -f)
        except np.linalg.LinAlgError:
            return v, it, False
        va[pq] += dx[: pq.size]
        vm[pq] += dx[pq.size :]
        if np.any(vm <= 0):
            return v, it, False
    return v, MAX_NEWTON, False


@dataclass(frozen=True, slots=True, kw_only=True)
class PowerFlowResult:
    """One snapshot, summarised the way an engineer reads a power flow."""

    converged: bool
    iterations: int
    method: Method
    message: str
    losses_kw: float
    vmin_pu: float
    vmin_bus: str
    vmax_pu: float
    vmax_bus: str
    max_loading_pct: float | None  # None when no branch has a rating
    max_loading_branch: str | None
    slack_p_kw: float
    slack_q_kvar: float
    bus_vm_pu: dict[str, float]
    bus_va_deg: dict[str, float]

    def as_json(self) -> dict[str, object]:
        return {
            "converged": self.converged,
            "iterations": self.iterations,
            "method": self.method,
            "message": self.message,
            "losses_kw": self.losses_kw,
            "vmin_pu": self.vmin_pu,
            "vmin_bus": self.vmin_bus,
            "vmax_pu": self.vmax_pu,
            "vmax_bus": self.vmax_bus,
            "max_loading_pct": self.max_loading_pct,
            "max_loading_branch": self.max_loading_branch,
            "slack_p_kw": self.slack_p_kw,
            "slack_q_kvar": self.slack_q_kvar,
            "bus_vm_pu": self.bus_vm_pu,
            "bus_va_deg": self.bus_va_deg,
        }


def solve(
    net: Network | Prepared, p_mw: FloatArray | None = None, q_mvar: FloatArray | None = None
) -> PowerFlowResult:
    """Solve one snapshot (default: the network's own loads)."""
    res = solve_batch(net, p_mw, q_mvar)
    grid = res.net
    vm = res.vm_pu[0]
    ok = bool(res.converged[0])
    lo, hi = int(np.argmin(vm)), int(np.argmax(vm))
    loading = res.loading_pct[0]
    rated = np.isfinite(loading)
    worst = int(np.nanargmax(np.where(rated, loading, -1.0))) if rated.any() else None
    return PowerFlowResult(
        converged=ok,
        iterations=int(res.iterations[0]),
        method="newton" if res.newton[0] else res.method,
        message="converged" if ok else res.failure(0),
        losses_kw=float(res.losses_kw[0]),
        vmin_pu=float(vm[lo]),
        vmin_bus=grid.bus_ids[lo],
        vmax_pu=float(vm[hi]),
        vmax_bus=grid.bus_ids[hi],
        max_loading_pct=float(loading[worst]) if worst is not None else None,
        max_loading_branch=grid.branch_ids[worst] if worst is not None else None,
        slack_p_kw=float(res.s_slack_mva[0].real * 1000.0),
        slack_q_kvar=float(res.s_slack_mva[0].imag * 1000.0),
        bus_vm_pu={b: float(x) for b, x in zip(grid.bus_ids, vm, strict=True)},
        bus_va_deg={
            b: float(x) for b, x in zip(grid.bus_ids, np.rad2deg(np.angle(res.v[0])), strict=True)
        },
    )

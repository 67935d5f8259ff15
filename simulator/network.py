"""The feeder model: buses, branches (lines and transformers) and DERs, as numpy arrays.

A ``Network`` is built once (from a MATPOWER case or gridaios YAML) and checked
on construction: a bad network is refused with an error naming the element and
the fix, never solved into a silent wrong answer. Everything is in per unit on
``base_mva`` inside; the public names carry their units.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


class NetworkError(ValueError):
    """A network description is invalid; the message names the element and the fix."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadSpec:
    """A load that follows a scenario profile: ``p(t) = share * profile(t)`` kW."""

    id: str
    bus: str
    profile: str
    share: float = 1.0
    power_factor: float = 0.95
    p_kw: float = 0.0  # the nominal snapshot (what a single power flow solves)


@dataclass(frozen=True, slots=True, kw_only=True)
class PvSpec:
    """A PV plant: available power follows a profile; the inverter caps apparent power."""

    id: str
    bus: str
    rated_kw: float
    inverter_kva: float
    profile: str = ""  # scenario profile name; defaults to the id


@dataclass(frozen=True, slots=True, kw_only=True)
class BatterySpecNet:
    """A battery at a bus; p > 0 discharges toward the grid."""

    id: str
    bus: str
    capacity_kwh: float
    max_charge_kw: float
    max_discharge_kw: float
    efficiency: float
    soc_min_pct: float = 0.0
    soc_max_pct: float = 100.0


@dataclass(frozen=True, slots=True, kw_only=True)
class FlexLoadSpec:
    """A curtailable (demand-response) load; a share of the curtailed energy rebounds."""

    id: str
    bus: str
    max_curtail_pct: float
    rebound_pct: float = 0.0
    rebound_s: float = 3600.0
    power_factor: float = 0.95
    profile: str = ""


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Network:
    """A checked feeder. Arrays are indexed by bus position / branch position."""

    name: str
    base_mva: float
    bus_ids: tuple[str, ...]
    slack: int
    slack_vm_pu: float
    base_kv: FloatArray
    p_load_mw: FloatArray
    q_load_mvar: FloatArray
    gs_mw: FloatArray  # bus shunt conductance, MW at 1 pu
    bs_mvar: FloatArray  # bus shunt susceptance, MVAr at 1 pu
    vmin_pu: FloatArray
    vmax_pu: FloatArray
    branch_ids: tuple[str, ...]
    f_bus: IntArray
    t_bus: IntArray
    r_pu: FloatArray
    x_pu: FloatArray
    b_pu: FloatArray
    rating_mva: FloatArray  # 0 = unlimited
    tap: FloatArray  # off-nominal ratio at the from side; 1 for lines
    shift_deg: FloatArray
    in_service: BoolArray
    loads: tuple[LoadSpec, ...] = ()  # profile-driven loads, on top of p_load_mw
    pvs: tuple[PvSpec, ...] = ()
    batteries: tuple[BatterySpecNet, ...] = ()
    flex_loads: tuple[FlexLoadSpec, ...] = ()
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index.update({b: i for i, b in enumerate(self.bus_ids)})
        check(self)

    @property
    def n_bus(self) -> int:
        return len(self.bus_ids)

    @property
    def n_branch(self) -> int:
        return len(self.branch_ids)

    def bus_index(self, bus_id: str) -> int:
        try:
            return self._index[bus_id]
        except KeyError:
            raise NetworkError(
                f"network {self.name}: unknown bus {bus_id!r}; known buses: "
                f"{', '.join(self.bus_ids[:10])}{' ...' if self.n_bus > 10 else ''}"
            ) from None

    def topology(self) -> Literal["radial", "meshed"]:
        """``radial`` when the in-service branches form a tree with nominal ratios."""
        live = self.in_service
        nominal = bool(np.all(self.tap[live] == 1.0) and np.all(self.shift_deg[live] == 0.0))
        tree = int(live.sum()) == self.n_bus - 1
        return "radial" if tree and nominal else "meshed"

    def with_branch_status(self, branch_id: str, in_service: bool) -> Network:
        """A copy with one branch switched (a line trip, a tie closed); re-checked."""
        try:
            k = self.branch_ids.index(branch_id)
        except ValueError:
            raise NetworkError(f"network {self.name}: unknown branch {branch_id!r}") from None
        status = self.in_service.copy()
        status[k] = in_service
        return _replace(self, in_service=status)

    def nominal_loads(self) -> tuple[FloatArray, FloatArray]:
        """Bus loads (MW, MVAr) of the nominal snapshot: constant loads plus each
        profile-driven load at its nominal ``p_kw``."""
        p = self.p_load_mw.copy()
        q = self.q_load_mvar.copy()
        for load in self.loads:
            i = self.bus_index(load.bus)
            p[i] += load.p_kw / 1000.0
            q[i] += load.p_kw / 1000.0 * _q_per_p(load.power_factor)
        return p, q

    def with_loads(self, p_load_mw: FloatArray, q_load_mvar: FloatArray) -> Network:
        return _replace(
            self,
            p_load_mw=np.asarray(p_load_mw, dtype=float),
            q_load_mvar=np.asarray(q_load_mvar, dtype=float),
        )

    def with_branch_status_energized(
        self, branch_id: str, in_service: bool
    ) -> tuple[Network, tuple[str, ...]]:
        """Switch a branch and keep what is still fed from the slack: a trip that
        islands part of a radial feeder de-energizes it (its loads go unserved)."""
        try:
            k = self.branch_ids.index(branch_id)
        except ValueError:
            raise NetworkError(f"network {self.name}: unknown branch {branch_id!r}") from None
        status = self.in_service.copy()
        status[k] = in_service
        alive = reachable(self, status)
        dead = tuple(self.bus_ids[i] for i in np.flatnonzero(~alive))
        if not dead:
            return _replace(self, in_service=status), ()
        keep = np.flatnonzero(alive)
        renumber = np.full(self.n_bus, -1, dtype=np.int64)
        renumber[keep] = np.arange(keep.size)
        branches = np.flatnonzero(alive[self.f_bus] & alive[self.t_bus])
        ids = set(self.bus_ids[i] for i in keep)
        sub = _replace(
            self,
            bus_ids=tuple(self.bus_ids[i] for i in keep),
            slack=int(renumber[self.slack]),
            **{
                name: getattr(self, name)[keep]
                for name in (
                    "base_kv",
                    "p_load_mw",
                    "q_load_mvar",
                    "gs_mw",
                    "bs_mvar",
                    "vmin_pu",
                    "vmax_pu",
                )
            },
            branch_ids=tuple(self.branch_ids[k] for k in branches),
            f_bus=renumber[self.f_bus[branches]],
            t_bus=renumber[self.t_bus[branches]],
            **{
                name: getattr(self, name)[branches]
                for name in ("r_pu", "x_pu", "b_pu", "rating_mva", "tap", "shift_deg")
            },
            in_service=status[branches],
            loads=tuple(x for x in self.loads if x.bus in ids),
            pvs=tuple(x for x in self.pvs if x.bus in ids),
            batteries=tuple(x for x in self.batteries if x.bus in ids),
            flex_loads=tuple(x for x in self.flex_loads if x.bus in ids),
        )
        return sub, dead

    def with_ders(
        self,
        *,
        pvs: tuple[PvSpec, ...] = (),
        batteries: tuple[BatterySpecNet, ...] = (),
        flex_loads: tuple[FlexLoadSpec, ...] = (),
    ) -> Network:
        return _replace(self, pvs=pvs, batteries=batteries, flex_loads=flex_loads)


def _q_per_p(power_factor: float) -> float:
    return float(np.tan(np.arccos(power_factor)))


def _replace(net: Network, **changes: object) -> Network:
    names = [n for n in Network.__dataclass_fields__ if n != "_index"]
    values: dict[str, Any] = {name: getattr(net, name) for name in names}
    values.update(changes)
    return Network(**values)


def check(net: Network) -> None:
    """Refuse a network that cannot be solved honestly; name the element and the fix."""
    n = net.n_bus
    where = f"network {net.name}"
    if n < 2:
        raise NetworkError(f"{where}: needs at least 2 buses, has {n}")
    if len(set(net.bus_ids)) != n:
        dup = sorted({b for b in net.bus_ids if net.bus_ids.count(b) > 1})
        raise NetworkError(f"{where}: duplicate bus ids {dup}")
    if not 0 <= net.slack < n:
        raise NetworkError(f"{where}: no slack bus; mark the substation bus as slack (type 3)")
    if net.base_mva <= 0:
        raise NetworkError(f"{where}: base_mva = {net.base_mva:g}: must be > 0")
    for name in ("p_load_mw", "q_load_mvar", "gs_mw", "bs_mvar", "base_kv", "vmin_pu", "vmax_pu"):
        arr = getattr(net, name)
        if arr.shape != (n,):
            raise NetworkError(f"{where}: {name} has shape {arr.shape}, expected ({n},)")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise NetworkError(f"{where}: bus {net.bus_ids[bad[0]]}: {name} is not a number")
    bad_kv = np.flatnonzero(net.base_kv < 0)  # 0 = not given (only used for reporting)
    if bad_kv.size:
        b = net.bus_ids[bad_kv[0]]
        raise NetworkError(f"{where}: bus {b}: base_kv = {net.base_kv[bad_kv[0]]:g}: must be >= 0")
    for k, bid in enumerate(net.branch_ids):
        _check_branch(net, k, f"{where}: branch {bid}")
    _check_connected(net)
    for der_bus, der_id in (
        *((d.bus, d.id) for d in net.loads),
        *((p.bus, p.id) for p in net.pvs),
        *((b.bus, b.id) for b in net.batteries),
        *((f.bus, f.id) for f in net.flex_loads),
    ):
        if der_bus not in net._index:
            raise NetworkError(f"{where}: DER {der_id!r} sits on unknown bus {der_bus!r}")


def _check_branch(net: Network, k: int, what: str) -> None:
    f, t = int(net.f_bus[k]), int(net.t_bus[k])
    if not (0 <= f < net.n_bus and 0 <= t < net.n_bus):
        raise NetworkError(f"{what}: connects an unknown bus")
    ends = f"({net.bus_ids[f]}-{net.bus_ids[t]})"
    if f == t:
        raise NetworkError(f"{what} {ends}: both ends on the same bus; remove it")
    r, x = float(net.r_pu[k]), float(net.x_pu[k])
    values = (r, x, float(net.b_pu[k]), float(net.tap[k]), float(net.shift_deg[k]))
    if not all(np.isfinite(v) for v in values):
        raise NetworkError(f"{what} {ends}: r, x, b, tap and shift must be numbers")
    if r < 0 or x < 0:
        raise NetworkError(
            f"{what} {ends}: negative impedance r={r:g} x={x:g} pu; "
            "r and x must be >= 0 (series compensation is not modelled)"
        )
    if net.in_service[k] and r == 0 and x == 0:
        raise NetworkError(
            f"{what} {ends}: zero impedance (r = x = 0); model a closed switch as a small "
            "impedance (e.g. x = 1e-4 pu) or merge the two buses"
        )
    if net.tap[k] <= 0:
        raise NetworkError(f"{what} {ends}: tap ratio {net.tap[k]:g} must be > 0")
    if net.rating_mva[k] < 0:
        raise NetworkError(f"{what} {ends}: rating {net.rating_mva[k]:g} MVA must be >= 0")


def reachable(net: Network, in_service: BoolArray | None = None) -> BoolArray:
    """Buses connected to the slack through in-service branches (or ``in_service``)."""
    adjacency: list[list[int]] = [[] for _ in range(net.n_bus)]
    live = net.in_service if in_service is None else in_service
    for k in np.flatnonzero(live):
        f, t = int(net.f_bus[k]), int(net.t_bus[k])
        adjacency[f].append(t)
        adjacency[t].append(f)
    seen = np.zeros(net.n_bus, dtype=bool)
    seen[net.slack] = True
    queue = deque([net.slack])
    while queue:
        for nb in adjacency[queue.popleft()]:
            if not seen[nb]:
                seen[nb] = True
                queue.append(nb)
    return seen


def _check_connected(net: Network) -> None:
    lost = np.flatnonzero(~reachable(net))
    if lost.size:
        names = ", ".join(net.bus_ids[i] for i in lost[:8])
        more = f" (+{lost.size - 8} more)" if lost.size > 8 else ""
        raise NetworkError(
            f"network {net.name}: bus {names}{more} not connected to the slack bus "
            f"{net.bus_ids[net.slack]}; close a branch to it or remove the island"
        )


def tree_paths(net: Network) -> FloatArray:
    """Path matrix of a radial network: ``T[k, j] = 1`` if branch k lies on slack -> bus j.

    With it a backward sweep is ``J = T @ I`` and a forward sweep is
    ``dV = T.T @ (z * J)`` (the BIBC / BCBV matrices of Teng's formulation).
    """
    live = np.flatnonzero(net.in_service)
    adjacency: list[list[tuple[int, int]]] = [[] for _ in range(net.n_bus)]
    for branch in live.tolist():
        f, t = int(net.f_bus[branch]), int(net.t_bus[branch])
        adjacency[f].append((t, branch))
        adjacency[t].append((f, branch))
    parent_branch = np.full(net.n_bus, -1, dtype=np.int64)
    parent = np.full(net.n_bus, -1, dtype=np.int64)
    order: list[int] = [net.slack]
    visited = {net.slack}
    for bus in order:  # grows while iterating: breadth-first order
        for nb, k in adjacency[bus]:
            if nb not in visited:
                visited.add(nb)
                parent[nb] = bus
                parent_branch[nb] = k
                order.append(nb)
    paths = np.zeros((net.n_branch, net.n_bus))
    for bus in order[1:]:  # a bus inherits its parent's path plus its own branch
        p = int(parent[bus])
        paths[:, bus] = paths[:, p]
        paths[parent_branch[bus], bus] = 1.0
    return paths

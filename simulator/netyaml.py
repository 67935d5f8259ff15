"""Read a feeder described in gridaios YAML (engineering units) into a ``Network``.

Lines are given in ohms and amps, transformers in % on their own rating with an
off-nominal tap in %, loads and DERs in kW. Everything is converted to per unit
on ``base_mva`` here, once. A file that is not a valid network is refused with
the path of the field and the reason.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulator.network import (
    BatterySpecNet,
    FlexLoadSpec,
    LoadSpec,
    Network,
    NetworkError,
    PvSpec,
)

Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Pct = Annotated[float, Field(ge=0, le=100)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BusModel(_Model):
    id: str
    base_kv: Positive
    vmin_pu: Positive = 0.95
    vmax_pu: Positive = 1.05


class SlackModel(_Model):
    bus: str
    vm_pu: Positive = 1.0


class LineModel(_Model):
    id: str
    from_bus: str = Field(alias="from")
    to_bus: str = Field(alias="to")
    r_ohm: float
    x_ohm: float
    b_us: NonNegative = 0.0  # total shunt susceptance, microsiemens
    rating_a: NonNegative = 0.0  # 0 = unrated
    in_service: bool = True


class TransformerModel(_Model):
    id: str
    hv_bus: str
    lv_bus: str
    rating_kva: Positive
    r_pct: float
    x_pct: float
    tap_pct: float = 0.0  # off-nominal ratio on the HV side: 1 + tap_pct / 100
    in_service: bool = True


class LoadModel(_Model):
    id: str
    bus: str
    p_kw: float = 0.0  # constant load; with a profile, the nominal snapshot only
    q_kvar: float = 0.0
    profile: str = ""  # scenario profile name: p(t) = share * profile(t)
    share: NonNegative = 1.0
    power_factor: Annotated[float, Field(gt=0, le=1)] = 0.95


class PvModel(_Model):
    id: str
    bus: str
    rated_kw: Positive
    inverter_kva: Positive
    profile: str = ""


class BatteryModel(_Model):
    id: str
    bus: str
    capacity_kwh: Positive
    max_charge_kw: NonNegative
    max_discharge_kw: NonNegative
    efficiency: Annotated[float, Field(gt=0, le=1)]
    soc_min_pct: Pct = 0.0
    soc_max_pct: Pct = 100.0


class FlexLoadModel(_Model):
    id: str
    bus: str
    max_curtail_pct: Pct
    rebound_pct: Pct = 0.0
    rebound_s: Positive = 3600.0
    power_factor: Annotated[float, Field(gt=0, le=1)] = 0.95
    profile: str = ""


class NetworkModel(_Model):
    name: str
    base_mva: Positive = 1.0
    slack: SlackModel
    buses: list[BusModel] = Field(min_length=2)
    lines: list[LineModel] = Field(default_factory=list)
    transformers: list[TransformerModel] = Field(default_factory=list)
    loads: list[LoadModel] = Field(default_factory=list)
    pv: list[PvModel] = Field(default_factory=list)
    batteries: list[BatteryModel] = Field(default_factory=list)
    flex_loads: list[FlexLoadModel] = Field(default_factory=list)


class NetworkFile(_Model):
    network: NetworkModel


def load_network_yaml(path: str | Path) -> Network:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise NetworkError(f"{path}: cannot read the network file ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise NetworkError(f"{path}: not valid YAML: {err}") from err
    try:
        model = NetworkFile.model_validate(raw).network
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise NetworkError(
            f"{path}: {where}: {first['msg']} (value: {first.get('input')!r})"
        ) from err
    return build_network(model, source=str(path))


def build_network(model: NetworkModel, *, source: str = "<yaml>") -> Network:
    ids = [b.id for b in model.buses]
    index = {b: i for i, b in enumerate(ids)}
    kv = np.array([b.base_kv for b in model.buses])

    def bus_of(bus: str, what: str) -> int:
        if bus not in index:
            raise NetworkError(f"{source}: {what}: unknown bus {bus!r}; add it under buses")
        return index[bus]

    if model.slack.bus not in index:
        raise NetworkError(f"{source}: slack.bus {model.slack.bus!r} is not one of the buses")
    p_mw = np.zeros(len(ids))
    q_mvar = np.zeros(len(ids))
    for i, load in enumerate(model.loads):
        at = bus_of(load.bus, f"loads[{i}] {load.id}")
        if not load.profile:
            p_mw[at] += load.p_kw / 1000.0
            q_mvar[at] += load.q_kvar / 1000.0
    f_bus: list[int] = []
    t_bus: list[int] = []
    r: list[float] = []
    x: list[float] = []
    b: list[float] = []
    rating: list[float] = []
    tap: list[float] = []
    live: list[bool] = []
    names: list[str] = []
    for i, line in enumerate(model.lines):
        what = f"lines[{i}] {line.id}"
        f, t = bus_of(line.from_bus, what), bus_of(line.to_bus, what)
        if not math.isclose(kv[f], kv[t]):
            raise NetworkError(
                f"{source}: {what} joins {ids[f]} ({kv[f]:g} kV) and {ids[t]} ({kv[t]:g} kV); "
                "buses at different voltages are joined by a transformer"
            )
        z_base = kv[f] ** 2 / model.base_mva
        names.append(line.id)
        f_bus.append(f)
        t_bus.append(t)
        r.append(line.r_ohm / z_base)
        x.append(line.x_ohm / z_base)
        b.append(line.b_us * 1e-6 * z_base)
        rating.append(math.sqrt(3) * kv[f] * line.rating_a / 1000.0)
        tap.append(1.0)
        live.append(line.in_service)
    for i, tr in enumerate(model.transformers):
        what = f"transformers[{i}] {tr.id}"
        names.append(tr.id)
        f_bus.append(bus_of(tr.hv_bus, what))
        t_bus.append(bus_of(tr.lv_bus, what))
        scale = model.base_mva / (tr.rating_kva / 1000.0)
        r.append(tr.r_pct / 100.0 * scale)
        x.append(tr.x_pct / 100.0 * scale)
        b.append(0.0)
        rating.append(tr.rating_kva / 1000.0)
        tap.append(1.0 + tr.tap_pct / 100.0)
        live.append(tr.in_service)
    n_br = len(names)
    return Network(
        name=model.name,
        base_mva=model.base_mva,
        bus_ids=tuple(ids),
        slack=index[model.slack.bus],
        slack_vm_pu=model.slack.vm_pu,
        base_kv=kv,
        p_load_mw=p_mw,
        q_load_mvar=q_mvar,
        gs_mw=np.zeros(len(ids)),
        bs_mvar=np.zeros(len(ids)),
        vmin_pu=np.array([bus.vmin_pu for bus in model.buses]),
        vmax_pu=np.array([bus.vmax_pu for bus in model.buses]),
        branch_ids=tuple(names),
        f_bus=np.array(f_bus, dtype=np.int64).reshape(n_br),
        t_bus=np.array(t_bus, dtype=np.int64).reshape(n_br),
        r_pu=np.array(r, dtype=float).reshape(n_br),
        x_pu=np.array(x, dtype=float).reshape(n_br),
        b_pu=np.array(b, dtype=float).reshape(n_br),
        rating_mva=np.array(rating, dtype=float).reshape(n_br),
        tap=np.array(tap, dtype=float).reshape(n_br),
        shift_deg=np.zeros(n_br),
        in_service=np.array(live, dtype=bool).reshape(n_br),
        loads=tuple(
            LoadSpec(
                id=ld.id,
                bus=ld.bus,
                profile=ld.profile,
                share=ld.share,
                power_factor=ld.power_factor,
                p_kw=ld.p_kw,
            )
            for ld in model.loads
            if ld.profile
        ),
        pvs=tuple(
            PvSpec(
                id=p.id,
                bus=p.bus,
                rated_kw=p.rated_kw,
                inverter_kva=p.inverter_kva,
                profile=p.profile or p.id,
            )
            for p in model.pv
        ),
        batteries=tuple(
            BatterySpecNet(
                id=bt.id,
                bus=bt.bus,
                capacity_kwh=bt.capacity_kwh,
                max_charge_kw=bt.max_charge_kw,
                max_discharge_kw=bt.max_discharge_kw,
                efficiency=bt.efficiency,
                soc_min_pct=bt.soc_min_pct,
                soc_max_pct=bt.soc_max_pct,
            )
            for bt in model.batteries
        ),
        flex_loads=tuple(
            FlexLoadSpec(
                id=fl.id,
                bus=fl.bus,
                max_curtail_pct=fl.max_curtail_pct,
                rebound_pct=fl.rebound_pct,
                rebound_s=fl.rebound_s,
                power_factor=fl.power_factor,
                profile=fl.profile or fl.id,
            )
            for fl in model.flex_loads
        ),
    )


def load_network(path: str | Path) -> Network:
    """A network from a MATPOWER ``.m`` case or a gridaios ``.yaml`` file."""
    from simulator.matpower import load_matpower

    suffix = Path(path).suffix.lower()
    if suffix == ".m":
        return load_matpower(path)
    if suffix in (".yaml", ".yml"):
        return load_network_yaml(path)
    raise NetworkError(f"{path}: unknown network format {suffix!r}; use a .m or .yaml file")

"""The feeder's network model for the console's single-line diagram (GET /api/network).

Buses with their voltage limits, branches (lines, transformers) with ratings, and where
each asset sits; the console draws it as SVG and puts the live values on it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from runtime.api.context import Resources, resources

router = APIRouter(prefix="/api", tags=["state"])
R = Depends(resources)


def describe(network: Any) -> dict[str, Any]:
    """The network as plain data. Pure."""
    buses = [
        {
            "id": b,
            "base_kv": float(network.base_kv[i]),
            "vmin_pu": float(network.vmin_pu[i]),
            "vmax_pu": float(network.vmax_pu[i]),
            "slack": bool(i == int(network.slack)),
        }
        for i, b in enumerate(network.bus_ids)
    ]
    branches = [
        {
            "id": br,
            "from": network.bus_ids[int(network.f_bus[k])],
            "to": network.bus_ids[int(network.t_bus[k])],
            "transformer": bool(
                abs(float(network.tap[k]) - 1.0) > 1e-9
                or float(network.base_kv[int(network.f_bus[k])])
                != float(network.base_kv[int(network.t_bus[k])])
            ),
            "rating_kva": float(network.rating_mva[k]) * 1000.0,
            "in_service": bool(network.in_service[k]),
        }
        for k, br in enumerate(network.branch_ids)
    ]
    assets = (
        [{"id": a.id, "bus": a.bus, "kind": "battery"} for a in network.batteries]
        + [{"id": a.id, "bus": a.bus, "kind": "pv"} for a in network.pvs]
        + [{"id": a.id, "bus": a.bus, "kind": "flex_load"} for a in network.flex_loads]
    )
    return {"name": network.name, "buses": buses, "branches": branches, "assets": assets}


@router.get("/network", responses={404: {"description": "no network model configured"}})
def network(res: Resources = R) -> dict[str, Any]:
    """Buses, branches and asset locations of the feeder (404 without a network model)."""
    if res.ctx.network is None:
        raise HTTPException(
            404, "no network model: set feeder.network in the site config to draw the diagram"
        )
    out = describe(res.ctx.network)
    config = res.ctx.config
    if config is not None:
        out["meter"] = config.feeder.meter
        out["threshold_kw"] = config.policy.peak_shaving.threshold_kw
        out["transformer_rating_kw"] = config.feeder.transformer_rating_kw
    return out

"""The range each point can physically read, from the site config (``Envelope.plausible``).

A reading outside it is a sensor, scaling or spoofing fault, not a grid state: the gate
rejects what depends on it (``state.implausible``). Ranges per point kind:

- ``soc_pct``, ``curtail_pct``: 0-100 %;
- a voltage point (role ending in ``_pu``, or a ``safety.buses[*].point``): 0-2 pu;
- a battery's ``p_kw`` / ``p_setpoint_kw`` / ``setpoint_readback_kw``: +/- its larger power
  rating x ``POWER_MARGIN`` (+ 1 kW);
- a PV plant's ``p_kw``: +/- its ``rated_kw`` x ``POWER_MARGIN`` (+ 1 kW);
- the feeder meter's and any load's ``p_kw``: +/- the transformer rating x ``FEEDER_MARGIN``.

Points of other roles (keys, flags) have no range.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.config.model import SiteConfig

POWER_MARGIN = 1.5
FEEDER_MARGIN = 2.0
PERCENT = (0.0, 100.0)
PER_UNIT = (0.0, 2.0)


def ranges(config: SiteConfig) -> dict[str, tuple[float, float]]:
    feeder_kw = config.feeder.transformer_rating_kw * FEEDER_MARGIN
    out: dict[str, tuple[float, float]] = {}
    for asset in config.assets:
        rated: float | None = None
        if asset.type == "battery":
            rated = max(asset.max_charge_kw, asset.max_discharge_kw)
        elif asset.type == "pv":
            rated = asset.rated_kw
        for role in asset.points:
            point = f"{asset.id}.{role}"
            if role in ("soc_pct", "curtail_pct"):
                out[point] = PERCENT
            elif role.endswith("_pu"):
                out[point] = PER_UNIT
            elif role in ("p_kw", "p_setpoint_kw", "setpoint_readback_kw"):
                kw = rated * POWER_MARGIN + 1.0 if rated is not None else feeder_kw
                out[point] = (-kw, kw)
    for bus in config.safety.buses:
        if bus.point:
            out[bus.point] = PER_UNIT
    return out

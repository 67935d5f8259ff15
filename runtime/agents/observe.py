"""Observe: after a verified dispatch, did the feeder respond as the simulator predicted?

The prediction is what the conductor recorded before dispatch (``dispatch.simulated``:
the twin's uncontrolled feeder load and the value simulated): feeder import =
uncontrolled load - battery output. ``after_s`` after verification the measured
meter import is compared with it; beyond ``tolerance_kw`` the shell raises
``agent.observation_mismatch`` and, with ``on_mismatch: revert``, reverts the
dispatch to its rollback point through the ordinary revert path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runtime.config import ObserveConfig
from runtime.site import point_id
from safety import StateSnapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class Prediction:
    dispatch_id: str
    asset: str
    setpoint_kw: float
    predicted_feeder_kw: float
    verified_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    prediction: Prediction
    measured_feeder_kw: float
    measured_asset_kw: float
    mismatch: bool


def prediction(
    dispatch_id: str, simulated: Mapping[str, Any], asset: str, verified_at: datetime
) -> Prediction | None:
    """From a ``dispatch.simulated`` payload (None for a v1 record without the twin state)."""
    twin = simulated.get("twin_state")
    value = simulated.get("value")
    if twin is None or value is None:
        return None
    return Prediction(
        dispatch_id=dispatch_id,
        asset=asset,
        setpoint_kw=float(value),
        predicted_feeder_kw=float(twin["uncontrolled_net_kw"]) - float(value),
        verified_at=verified_at,
    )


def due(pred: Prediction, config: ObserveConfig, now: datetime) -> bool:
    return now >= pred.verified_at + timedelta(seconds=config.after_s)


def observe(
    pred: Prediction, snapshot: StateSnapshot, meter: str, config: ObserveConfig
) -> Observation | None:
    """Compare; None when the meter or the asset has no reading (observed later)."""
    feeder = snapshot.get(point_id(meter, "p_kw"))
    asset = snapshot.get(point_id(pred.asset, "p_kw"))
    if feeder is None or asset is None:
        return None
    return Observation(
        prediction=pred,
        measured_feeder_kw=feeder.value,
        measured_asset_kw=asset.value,
        mismatch=abs(feeder.value - pred.predicted_feeder_kw) > config.tolerance_kw,
    )

"""Observe: after a verified dispatch, did the field respond as expected?

Battery setpoints: the prediction is what the conductor recorded before dispatch
(``dispatch.simulated``: the twin's uncontrolled feeder load and the value simulated):
feeder import = uncontrolled load - battery output. ``after_s`` after verification the
measured meter import is compared with it; beyond ``tolerance_kw`` the shell raises
``agent.observation_mismatch`` and, with ``on_mismatch: revert``, reverts the
dispatch to its rollback point through the ordinary revert path.

Curtailments (``curtail_pct``; the read-back only proves the register took the value):
from ``after_s`` after verification the asset's measured p_kw must be at most its
uncurtailed power x (1 - pct/100), plus ``curtail_tolerance_pct`` of the uncurtailed
power. The uncurtailed power is the measured p_kw over the share running when the
command was proposed (a PV fully curtailed then: its rating, an upper bound). Fail
safe: no good reading stamped after that time within another ``after_s``, or no
uncurtailed power known, is ``unconfirmed`` (alerted, never taken as followed); above
the bound is a ``mismatch`` (``on_mismatch``). Every outcome is an
``agent.curtailment_observed`` event with its reason. Only an upper bound is checked:
a PV may produce less than allowed (a cloud), so a release is not checked from below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from runtime.config.model import ObserveConfig
from runtime.config.site import point_id, uncurtailed_kw
from safety import Quality, StateSnapshot


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


@dataclass(frozen=True, slots=True, kw_only=True)
class CurtailPrediction:
    dispatch_id: str
    asset: str
    curtail_pct: float  # the value sent (after the gate)
    uncurtailed_kw: float | None  # None: not known when it was proposed
    basis: str  # where uncurtailed_kw comes from, for the reason text
    verified_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CurtailObservation:
    prediction: CurtailPrediction
    outcome: Literal["followed", "mismatch", "unconfirmed"]
    expected_max_kw: float | None
    measured_kw: float | None
    tolerance_kw: float | None
    reason: str


def curtail_prediction(
    dispatch_id: str,
    asset: str,
    curtail_pct: float,
    proposed: StateSnapshot,
    verified_at: datetime,
    *,
    rated_kw: float | None = None,
) -> CurtailPrediction:
    """From the snapshot the proposal saw (``dispatch.proposed``) and the value sent;
    ``rated_kw`` (a PV's rating) stands in when the measured power says nothing."""
    full_kw = uncurtailed_kw(asset, proposed)
    basis = "measured when proposed"
    if full_kw is None and rated_kw is not None:
        full_kw, basis = rated_kw, "its rating"
    return CurtailPrediction(
        dispatch_id=dispatch_id,
        asset=asset,
        curtail_pct=curtail_pct,
        uncurtailed_kw=full_kw,
        basis=basis,
        verified_at=verified_at,
    )


def observe_curtail(
    pred: CurtailPrediction, snapshot: StateSnapshot, config: ObserveConfig, now: datetime
) -> CurtailObservation | None:
    """The asset's measured response, once due; None while a reading may still come."""
    effect_at = pred.verified_at + timedelta(seconds=config.after_s)
    point = point_id(pred.asset, "p_kw")
    pct = pred.curtail_pct
    reading = snapshot.get(point)
    if reading is None or reading.ts < effect_at or reading.quality is not Quality.GOOD:
        if now < effect_at + timedelta(seconds=config.after_s):
            return None
        seen = (
            "none"
            if reading is None
            else f"the last is {reading.quality.value}, stamped {reading.ts:%H:%M:%S}Z"
        )
        return CurtailObservation(
            prediction=pred,
            outcome="unconfirmed",
            expected_max_kw=None,
            measured_kw=None,
            tolerance_kw=None,
            reason=f"no good {point} reading stamped after {effect_at:%H:%M:%S}Z ({seen}): "
            f"the response to curtail_pct {pct:g} % is not confirmed",
        )
    measured_kw = abs(reading.value)
    full_kw = pred.uncurtailed_kw
    if full_kw is None:
        return CurtailObservation(
            prediction=pred,
            outcome="unconfirmed",
            expected_max_kw=None,
            measured_kw=measured_kw,
            tolerance_kw=None,
            reason=f"{pred.asset} at {measured_kw:.1f} kW, but its uncurtailed power was not "
            "known when the curtailment was proposed (no p_kw, or fully curtailed): "
            f"the response to curtail_pct {pct:g} % is not confirmed",
        )
    expected_kw = full_kw * (1.0 - pct / 100.0)
    tolerance_kw = full_kw * config.curtail_tolerance_pct / 100.0
    followed = measured_kw <= expected_kw + tolerance_kw
    bound = (
        f"at most {expected_kw:.1f} kW ({full_kw:.1f} kW uncurtailed, {pred.basis}, "
        f"x {100.0 - pct:g} %) + {tolerance_kw:.1f} kW tolerance"
    )
    reason = f"{pred.asset} at {measured_kw:.1f} kW " + (
        f"<= {bound}: curtailment followed" if followed else f"> {bound}: not followed"
    )
    reported = snapshot.get(point_id(pred.asset, "curtail_pct"))
    if not followed and reported is not None:
        reason += f" (the device reports curtail_pct {reported.value:g} %)"
    return CurtailObservation(
        prediction=pred,
        outcome="followed" if followed else "mismatch",
        expected_max_kw=expected_kw,
        measured_kw=measured_kw,
        tolerance_kw=tolerance_kw,
        reason=reason,
    )


def due(pred: Prediction | CurtailPrediction, config: ObserveConfig, now: datetime) -> bool:
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

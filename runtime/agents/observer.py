"""The observe step's shell: after a verified dispatch, did the field respond?

Each conductor cycle it takes in the dispatches verified since the last cycle (a
prediction per asset; a newer dispatch replaces the older prediction), judges the
ones due with the pure functions of ``runtime.agents.observe`` and records what it
found: ``agent.observation_mismatch`` for a battery setpoint the feeder did not follow,
``agent.curtailment_observed`` for every curtailment checked. A mismatch is counted
and, with ``observe.on_mismatch: revert``, reverted through the conductor's revert path.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runtime.agents.observe import (
    CurtailObservation,
    CurtailPrediction,
    Prediction,
    curtail_prediction,
    due,
    observe,
    observe_curtail,
    prediction,
)
from runtime.config.model import PvAsset
from runtime.log import events as ev
from runtime.log import records
from safety import CommandKind, StateSnapshot

if TYPE_CHECKING:
    from runtime.conductor.loop import Conductor

log = logging.getLogger(__name__)


class Observer:
    def __init__(self, conductor: Conductor) -> None:
        self.c = conductor
        self.predictions: list[Prediction | CurtailPrediction] = []
        self.mismatches = 0
        self._verified_seq: int | None = None

    def start_at(self, seq: int) -> None:
        """Observe dispatches verified after log record ``seq`` (this run's)."""
        self._verified_seq = seq

    async def step(self, snapshot: StateSnapshot, now: datetime) -> None:
        """Take in the dispatches verified since the last step, judge those now due."""
        c = self.c
        cfg = c.config.observe
        if not cfg.enabled:
            return
        assert self._verified_seq is not None
        for event in c.events.events(kinds=("dispatch.verified",), after_seq=self._verified_seq):
            self._verified_seq = event.seq
            did = event.dispatch_id
            if did is None or did.endswith("-revert"):
                continue
            pred = self._prediction(did, event.ts)
            if pred is not None:  # a newer dispatch for the asset replaces the older prediction
                self.predictions = [p for p in self.predictions if p.asset != pred.asset]
                self.predictions.append(pred)
        pending: list[Prediction | CurtailPrediction] = []
        for pred in self.predictions:
            if not due(pred, cfg, now):
                pending.append(pred)
                continue
            if isinstance(pred, CurtailPrediction):
                if c.setpoints.get(pred.asset) != pred.curtail_pct:
                    continue  # reverted or replaced since: nothing left to judge
                checked = observe_curtail(pred, snapshot, cfg, now)
                if checked is None:
                    pending.append(pred)
                else:
                    await self._curtailment_observed(checked, now)
                continue
            if c.setpoints.get(pred.asset) != pred.setpoint_kw:
                continue  # reverted or replaced since: nothing left to judge
            obs = observe(pred, snapshot, c.config.feeder.meter, cfg)
            if obs is None:
                pending.append(pred)
                continue
            if not obs.mismatch:
                continue
            self.mismatches += 1
            c.events.append_event(
                ev.AgentObservationMismatch(
                    asset=pred.asset,
                    predicted_feeder_kw=pred.predicted_feeder_kw,
                    measured_feeder_kw=obs.measured_feeder_kw,
                    setpoint_kw=pred.setpoint_kw,
                    measured_asset_kw=obs.measured_asset_kw,
                    tolerance_kw=cfg.tolerance_kw,
                    action=cfg.on_mismatch,
                ),
                ts=now,
                dispatch_id=pred.dispatch_id,
            )
            log.warning(
                "dispatch %s: feeder at %.0f kW, simulator predicted %.0f kW (tolerance %.0f)",
                pred.dispatch_id,
                obs.measured_feeder_kw,
                pred.predicted_feeder_kw,
                cfg.tolerance_kw,
            )
            if cfg.on_mismatch == "revert":
                await c.revert(
                    pred.dispatch_id,
                    by="agent:observe",
                    reason=f"feeder {obs.measured_feeder_kw:.0f} kW vs predicted "
                    f"{pred.predicted_feeder_kw:.0f} kW (tolerance {cfg.tolerance_kw:g} kW)",
                )
        self.predictions = pending

    async def _curtailment_observed(self, obs: CurtailObservation, now: datetime) -> None:
        """Record the outcome; a mismatch goes the battery's way (counted, on_mismatch), an
        unconfirmed response is alerted only (with nothing measured, there is nothing to
        revert on: the gate would refuse it on the same missing data)."""
        c = self.c
        cfg = c.config.observe
        pred = obs.prediction
        action = {"followed": "none", "unconfirmed": "alert", "mismatch": cfg.on_mismatch}
        c.events.append_event(
            ev.AgentCurtailmentObserved(
                asset=pred.asset,
                curtail_pct=pred.curtail_pct,
                outcome=obs.outcome,
                uncurtailed_kw=pred.uncurtailed_kw,
                expected_max_kw=obs.expected_max_kw,
                measured_kw=obs.measured_kw,
                tolerance_kw=obs.tolerance_kw,
                action=action[obs.outcome],
                reason=obs.reason,
            ),
            ts=now,
            dispatch_id=pred.dispatch_id,
        )
        if obs.outcome == "followed":
            return
        self.mismatches += 1
        log.warning("dispatch %s: %s", pred.dispatch_id, obs.reason)
        if obs.outcome == "mismatch" and cfg.on_mismatch == "revert":
            await c.revert(pred.dispatch_id, by="agent:observe", reason=obs.reason)

    def _prediction(self, did: str, verified_at: datetime) -> Prediction | CurtailPrediction | None:
        proposed: dict[str, Any] | None = None
        simulated: dict[str, Any] | None = None
        for e in self.c.events.events(
            dispatch_id=did, kinds=("dispatch.proposed", "dispatch.simulated")
        ):
            if e.kind == "dispatch.proposed":
                proposed = dict(e.payload)
            else:
                simulated = dict(e.payload)
        if proposed is None or simulated is None or simulated.get("value") is None:
            return None
        asset = str(proposed["command"]["asset"])
        kind = proposed["command"]["kind"]
        if kind == CommandKind.CURTAIL_PCT.value:
            config_asset = self.c.config.asset(asset)
            return curtail_prediction(
                did,
                asset,
                float(simulated["value"]),
                records.snapshot_from(proposed["snapshot"]),
                verified_at,
                rated_kw=config_asset.rated_kw if isinstance(config_asset, PvAsset) else None,
            )
        if kind != CommandKind.ACTIVE_POWER_KW.value:
            return None
        return prediction(did, simulated, asset, verified_at)

"""Anomaly responder: score telemetry windows, flag, hold setpoints, propose the safe action.

Tier 1 is the ONNX detector shipped in ``forecasting/models`` (PCA reconstruction
on 32-sample windows); when it cannot be loaded or run (onnxruntime missing, file
missing: a model outage) the runner falls to tier 2, a robust z-score rule on the
same window. On a flagged point the agent emits a flag that holds the configured
assets (other agents' proposals for them are dropped until the hold ends) and
proposes the safe action: a battery that is not idle goes back to 0 kW.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from runtime.agents.base import Decision, Flag, Perception
from runtime.config.model import BatteryAsset, SiteConfig, anomaly_points
from runtime.decide.policy import Proposal, command_key
from safety import Command, CommandKind, Origin

WINDOW = 32
# windows [N, W] -> (scores [N], threshold)
Scorer = Callable[[np.ndarray], tuple[np.ndarray, float]]


def onnx_scorer(*, int8: bool = True) -> Scorer:
    """The shipped ONNX detector (raises ModelUnavailable / ImportError on an outage)."""
    from forecasting.onnx_models import AnomalyDetector

    detector = AnomalyDetector(int8=int8)

    def score(windows: np.ndarray) -> tuple[np.ndarray, float]:
        result = detector.score(windows)
        return result.scores, result.threshold

    return score


def zscore_scorer(threshold: float = 6.0, recent: int = 4) -> Scorer:
    """Deterministic rule: how far the newest ``recent`` samples stray from the window's
    median, in robust standard deviations (MAD); a floor of 1 % of the level keeps a
    flat window from flagging noise."""

    def score(windows: np.ndarray) -> tuple[np.ndarray, float]:
        w = np.atleast_2d(windows)
        med = np.median(w, axis=1)
        mad = np.median(np.abs(w - med[:, None]), axis=1)
        scale = np.maximum(1.4826 * mad, np.maximum(np.abs(med) * 0.01, 1e-6))
        return np.abs(w[:, -recent:] - med[:, None]).max(axis=1) / scale, threshold

    return score


class AnomalyAgent:
    def __init__(self, name: str, scorer: Callable[[], Scorer]) -> None:
        self.name = name
        self._make = scorer
        self._scorer: Scorer | None = None

    def _score(self, windows: np.ndarray) -> tuple[np.ndarray, float]:
        if self._scorer is None:
            self._scorer = self._make()  # a failure propagates: the runner tries the next tier
        return self._scorer(windows)

    def decide(self, perception: Perception, config: SiteConfig, now: datetime) -> Decision:
        cfg = config.agents.anomaly
        ready: dict[str, list[float]] = {}
        for point in anomaly_points(config):
            series = perception.history.get(point, ())
            if len(series) >= WINDOW:
                ready[point] = [v for _, v in series[-WINDOW:]]
        if not ready:
            return Decision(rationale=f"collecting telemetry: {WINDOW} samples per window")
        windows = np.asarray(list(ready.values()), dtype=np.float32)
        scores, threshold = self._score(windows)
        hold = tuple(
            cfg.hold_assets or [a.id for a in config.assets if isinstance(a, BatteryAsset)]
        )
        until = now + timedelta(seconds=cfg.hold_s)
        flags = tuple(
            Flag(
                subject=point,
                reason=f"{point}: anomaly score {float(s):.2f} > {threshold:.2f} ({self.name})",
                score=float(s),
                threshold=threshold,
                hold_assets=hold,
                hold_until=until,
            )
            for point, s in zip(ready, scores, strict=True)
            if s > threshold
        )
        if not flags:
            return Decision(rationale=f"{len(ready)} window(s) normal ({self.name})")
        proposals = tuple(
            _safe_action(config, asset, perception.setpoints.get(asset, 0.0), now, flags)
            for asset in hold
            if isinstance(_asset(config, asset), BatteryAsset)
            and perception.setpoints.get(asset, 0.0) != 0.0
        )
        rationale = "; ".join(f.reason for f in flags) + f": hold {', '.join(hold)}"
        return Decision(proposals=proposals, flags=flags, rationale=rationale)


def _asset(config: SiteConfig, asset_id: str) -> Any:
    return next((a for a in config.assets if a.id == asset_id), None)


def _safe_action(
    config: SiteConfig, asset: str, last_kw: float, now: datetime, flags: tuple[Flag, ...]
) -> Proposal:
    command = Command(
        key=command_key(config.site.id, asset, now),
        asset=asset,
        kind=CommandKind.ACTIVE_POWER_KW,
        value=0.0,
        start=now,
        end=now + timedelta(seconds=config.agents.anomaly.hold_s),
        origin=Origin.MODEL,
    )
    return Proposal(
        command=command,
        policy="anomaly_responder",
        rationale=f"telemetry anomaly ({', '.join(f.subject for f in flags)}): "
        f"return {asset} from {last_kw:g} kW to idle until the data is trusted again",
        inputs={"last_setpoint_kw": last_kw, "score": max(f.score or 0.0 for f in flags)},
    )

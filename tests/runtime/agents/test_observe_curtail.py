"""Observe for curtailments (pure): the asset's measured p_kw against what the curtailment
allows, table style; waiting, and fail-safe outcomes when it cannot be confirmed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from runtime.agents.observe import CurtailPrediction, curtail_prediction, observe_curtail
from runtime.config.model import ObserveConfig
from safety import Quality, Reading, StateSnapshot

from .support import T0, snapshot

CFG = ObserveConfig(after_s=120, curtail_tolerance_pct=5)
DUE = T0 + timedelta(seconds=120)  # verified at T0: the response counts from here
PRED = CurtailPrediction(
    dispatch_id="d1",
    asset="load1",
    curtail_pct=40.0,
    uncurtailed_kw=200.0,
    basis="measured when proposed",
    verified_at=T0,
)


@pytest.mark.parametrize(
    ("measured_kw", "outcome"),
    [
        (120.0, "followed"),  # exactly 200 x 60 %
        (90.0, "followed"),  # less is fine (an upper bound only)
        (129.9, "followed"),  # inside the 10 kW tolerance (5 % of 200)
        (130.1, "mismatch"),
        (200.0, "mismatch"),  # not curtailed at all
    ],
)
def test_curtail_observe_table(measured_kw: float, outcome: str) -> None:
    obs = observe_curtail(PRED, snapshot({"load1.p_kw": measured_kw}, DUE), CFG, DUE)
    assert obs is not None and obs.outcome == outcome
    assert obs.expected_max_kw == pytest.approx(120.0) and obs.tolerance_kw == pytest.approx(10.0)
    assert f"load1 at {measured_kw:.1f} kW" in obs.reason
    assert "120.0 kW (200.0 kW uncurtailed, measured when proposed, x 60 %)" in obs.reason


def test_a_mismatch_says_what_the_device_reports() -> None:
    now = snapshot({"load1.p_kw": 200.0, "load1.curtail_pct": 0.0}, DUE)
    obs = observe_curtail(PRED, now, CFG, DUE)
    assert obs is not None and obs.outcome == "mismatch"
    assert obs.reason.endswith("not followed (the device reports curtail_pct 0 %)")


def reading(value: float, at: datetime, quality: Quality = Quality.GOOD) -> StateSnapshot:
    return StateSnapshot(
        readings={"load1.p_kw": Reading(point="load1.p_kw", value=value, ts=at, quality=quality)}
    )


@pytest.mark.parametrize(
    ("state", "why"),
    [
        (StateSnapshot(readings={}), "(none)"),
        (reading(100.0, T0 + timedelta(seconds=60)), "good, stamped 18:01:00Z"),  # before due
        (reading(100.0, DUE, Quality.BAD), "bad, stamped 18:02:00Z"),
    ],
)
def test_no_good_reading_after_the_effect_time_waits_then_is_unconfirmed(
    state: StateSnapshot, why: str
) -> None:
    assert observe_curtail(PRED, state, CFG, DUE) is None
    assert observe_curtail(PRED, state, CFG, DUE + timedelta(seconds=119)) is None
    obs = observe_curtail(PRED, state, CFG, DUE + timedelta(seconds=120))
    assert obs is not None and obs.outcome == "unconfirmed"
    assert obs.measured_kw is None
    assert "no good load1.p_kw reading stamped after 18:02:00Z" in obs.reason
    assert why in obs.reason and "is not confirmed" in obs.reason


def test_uncurtailed_power_from_the_proposal_or_a_pv_rating_or_unknown() -> None:
    proposed = snapshot({"load1.p_kw": 150.0, "load1.curtail_pct": 25.0})
    pred = curtail_prediction("d1", "load1", 40.0, proposed, T0)
    assert pred.uncurtailed_kw == pytest.approx(200.0)  # 150 kW is 75 % of it
    full = snapshot({"pv1.p_kw": 0.0, "pv1.curtail_pct": 100.0})
    pv = curtail_prediction("d2", "pv1", 80.0, full, T0, rated_kw=400.0)
    assert (pv.uncurtailed_kw, pv.basis) == (400.0, "its rating")
    load = curtail_prediction("d3", "load1", 40.0, snapshot({}), T0)
    assert load.uncurtailed_kw is None
    obs = observe_curtail(load, snapshot({"load1.p_kw": 100.0}, DUE), CFG, DUE)
    assert obs is not None and obs.outcome == "unconfirmed"
    assert "uncurtailed power was not known" in obs.reason


def test_pv_curtailment_from_its_rating_is_an_upper_bound() -> None:
    full = snapshot({"pv1.p_kw": 0.0, "pv1.curtail_pct": 100.0})
    pv = curtail_prediction("d2", "pv1", 80.0, full, T0, rated_kw=400.0)
    ok = observe_curtail(pv, snapshot({"pv1.p_kw": 95.0}, DUE), CFG, DUE)
    over = observe_curtail(pv, snapshot({"pv1.p_kw": 101.0}, DUE), CFG, DUE)
    assert ok is not None and ok.outcome == "followed"  # <= 400 x 20 % + 20
    assert over is not None and over.outcome == "mismatch"

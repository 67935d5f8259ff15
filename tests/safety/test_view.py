"""The compiled envelope view the gate memoises must never answer for another envelope."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from safety import Ramp, Range, evaluate
from tests.safety.harness import KW, T0, battery, cmd, site, snapshot


def test_two_envelopes_interleaved_give_their_own_verdicts() -> None:
    wide = site(battery("bat1", ranges={KW: Range(min_value=-250.0, max_value=250.0)}))
    narrow = site(battery("bat1", ranges={KW: Range(min_value=-50.0, max_value=50.0)}))
    command, state = cmd("c1", value=100.0), snapshot()
    for _ in range(3):  # each evaluation warms its envelope's view; neither may leak
        (on_wide,) = evaluate([command], state, wide, T0)
        (on_narrow,) = evaluate([command], state, narrow, T0)
        assert on_wide.outcome == "accepted"
        assert on_narrow.outcome == "rejected"
        assert {h.constraint for h in on_narrow.hits} == {"limit.max"}
        assert on_narrow.hits[0].limit == 50.0


def test_replace_gives_a_fresh_view() -> None:
    base = site()
    command, state = cmd("c1", value=100.0), snapshot()
    assert evaluate([command], state, base, T0)[0].outcome == "accepted"
    tighter = replace(base, max_age=timedelta(seconds=5))  # the readings are 10 s old
    old_state = snapshot(at=T0 - timedelta(seconds=10))
    assert evaluate([command], old_state, base, T0)[0].outcome == "accepted"
    (verdict,) = evaluate([command], old_state, tighter, T0)
    assert verdict.outcome == "rejected"
    assert {h.constraint for h in verdict.hits} == {"state.stale"}


def test_an_asset_replaced_in_place_is_rebuilt() -> None:
    envelope = site()
    command, state = cmd("c1", value=100.0), snapshot()
    assert evaluate([command], state, envelope, T0)[0].outcome == "accepted"
    assets = envelope.assets
    assert isinstance(assets, dict)
    assets["bat1"] = battery("bat1", ramps={KW: Ramp(per_min=1.0)})  # 1 kW/min from 0 kW
    (verdict,) = evaluate([command], state, envelope, T0)
    assert verdict.outcome == "rejected"
    assert {h.constraint for h in verdict.hits} == {"ramp"}

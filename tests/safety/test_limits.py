"""Absolute min/max per asset and kind, with clamp and reject policies."""

from __future__ import annotations

import pytest

from safety import Clamped, Rejected, evaluate
from tests.safety.harness import KW, PCT, T0, Step, cmd, expect, load, run_steps, site, snapshot


@pytest.mark.parametrize(
    ("value", "policies", "outcome", "allowed", "fired"),
    [
        (100.0, {}, "accepted", 100.0, set()),
        (250.0, {}, "accepted", 250.0, set()),
        (300.0, {}, "rejected", None, {"limit.max"}),
        (300.0, {"limit.max": "clamp"}, "clamped", 250.0, {"limit.max"}),
        (-300.0, {"limit.max": "clamp"}, "rejected", None, {"limit.min"}),
        (-300.0, {"limit": "clamp"}, "clamped", -250.0, {"limit.min"}),
        (-300.0, {"limit": "clamp", "limit.min": "reject"}, "rejected", None, {"limit.min"}),
    ],
)
def test_battery_power_range(
    value: float, policies: dict[str, str], outcome: str, allowed: float | None, fired: set[str]
) -> None:
    (verdict,) = evaluate([cmd("c1", value=value)], snapshot(), site(policies=policies), T0)
    assert verdict.outcome == outcome
    assert {h.constraint for h in verdict.hits} == fired
    if allowed is None:
        assert isinstance(verdict, Rejected)
    else:
        assert verdict.approved.value == allowed  # type: ignore[union-attr]


def test_reason_names_asset_value_and_limit() -> None:
    (verdict,) = evaluate([cmd("c1", value=300.0)], snapshot(), site(), T0)
    (hit,) = verdict.hits
    assert hit.reason == "bat1 300 kW above max 250 kW"
    assert (hit.limit, hit.observed) == (250.0, 300.0)


def test_clamped_value_is_what_the_approved_command_carries() -> None:
    env = site(policies={"limit.max": "clamp"})
    (verdict,) = evaluate([cmd("c1", value=400.0)], snapshot(), env, T0)
    assert isinstance(verdict, Clamped)
    assert verdict.value == verdict.approved.value == 250.0
    assert verdict.approved.command.value == 400.0  # the request is kept for the audit trail


def test_load_curtailment_range_step_by_step() -> None:
    env = site(load(), policies={"limit.max": "clamp"})
    run_steps(
        env,
        [
            Step(commands=[("s1", "load1", PCT, 20.0, 15)], expect=[expect("accepted", 20.0)]),
            Step(
                commands=[("s2", "load1", PCT, 55.0, 15)],
                expect=[expect("clamped", 40.0, "limit.max")],
            ),
        ],
    )


def test_no_writable_kind_is_refused_by_the_allowlist() -> None:
    env = site(load())
    (verdict,) = evaluate([cmd("c1", asset="load1", kind=KW)], snapshot(), env, T0)
    assert verdict.outcome == "rejected"
    assert {h.constraint for h in verdict.hits} == {"allowlist"}
    assert "load1 has no writable point for active_power_kw" in verdict.hits[0].reason

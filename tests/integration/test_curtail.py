"""Curtailment end to end on the real OPC UA rig: an operator's curtail request on a
curtailable load and a PV goes proposal -> gate -> (not simulated, power flow) ->
approval -> outbox -> keyless node write -> read-back, and the field's p_kw follows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from asyncua import Client, ua

from forecasting.router import Router, load_router_config
from runtime.agents import OperatorRequest, interpret
from runtime.agents.shell import AgentSet
from runtime.approvals import book as approvals
from runtime.audit.explain import explain
from runtime.config.agents import ObserveConfig
from runtime.config.model import SiteConfig
from runtime.log.dispatch import State
from tests.integration.test_skeleton import PEAK, REPO, Rig, fresh, in_order, kinds, rig, wait_for

pytestmark = pytest.mark.integration
AFTERNOON = PEAK - timedelta(hours=1, minutes=45)  # 17:00, the PV still produces ~200 kW


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(load_router_config(REPO / "configs" / "router.yaml"))


async def ask(r: Rig, router: Router, text: str, request_id: str) -> str:
    """An operator's request, through the router's rules, decided on one conductor cycle."""
    intent, tier = interpret(text, router)
    assert tier == "rules" and intent.action == "curtail", (intent, tier)
    agents: AgentSet = r.conductor.agents
    agents.submit_request(
        OperatorRequest(
            request_id=request_id,
            user="alice",
            text=text,
            intent=intent,
            tier=tier,
            received_at=r.clock(),
        )
    )
    await r.conductor.cycle(r.clock())
    return f"{r.config.site.id}-{intent.asset}-op-{request_id}"


def field_node(r: Rig, node: str) -> float:
    return float(r.field._read(node))  # the value the OPC UA server holds


def available_kw(r: Rig, asset: str) -> float:
    """The asset's uncurtailed power at the clock's step, from the scenario itself."""
    scenario = r.field.scenario
    return float(scenario.profile_kw(asset)[scenario.step_index(r.clock())])


CHAIN = [
    "dispatch.proposed",
    "dispatch.gated",
    "dispatch.simulated",
    "dispatch.grid_validated",
    "approval.auto",
    "dispatch.approved",
    "dispatch.sent",
    "dispatch.acked",
    "dispatch.verified",
]


async def test_a_load_curtailment_above_the_envelope_is_clamped_written_and_followed(
    tmp_path: Path, router: Router
) -> None:
    async with rig(tmp_path) as r:
        await wait_for(lambda: fresh(r, "load1.p_kw"), "load1 telemetry")
        full_kw = available_kw(r, "load1")
        assert full_kw > 50, "the scenario must have the load running at this time"
        did = await ask(r, router, "curtail load1 by 60%", "c1")

        chain = kinds(r.events, did)
        assert in_order(chain, CHAIN), chain
        gated = next(r.events.events(dispatch_id=did, kinds=("dispatch.gated",)))
        assert gated.payload["outcome"] == "clamped"
        assert "40" in str(gated.payload), gated.payload  # load1's max_curtail_pct
        simulated = next(r.events.events(dispatch_id=did, kinds=("dispatch.simulated",)))
        assert simulated.payload["summary"].startswith("not simulated: the feeder twin")
        assert simulated.payload["steps"] == 0
        grid = next(r.events.events(dispatch_id=did, kinds=("dispatch.grid_validated",)))
        assert grid.payload["ok"], grid.payload["summary"]
        auto = next(r.events.events(dispatch_id=did, kinds=("approval.auto",)))
        # 40 % of the load's draw is what the approval thresholds compare (kW, not %)
        assert "kW <= auto-approve limit" in auto.payload["reason"]
        acked = next(r.events.events(dispatch_id=did, kinds=("dispatch.acked",)))
        assert acked.payload["readback_kw"] == 40.0
        assert r.conductor.projections.setpoints["load1"] == 40.0
        decided = [
            e.payload
            for e in r.events.events(kinds=("agent.decided",))
            if e.payload["agent"] == "operator_intent"
        ]
        assert decided and "not handled" not in decided[-1]["rationale"]
        assert decided[-1]["proposals"] == [did]

        # The device side: the node holds 40 and the load draws 60 % of what it would.
        assert field_node(r, "ns=2;s=load1.curtail_pct") == 40.0
        r.clock.advance(timedelta(minutes=1))
        expected = available_kw(r, "load1") * 0.6

        def followed() -> bool:
            reading = r.conductor.state.snapshot().get("load1.p_kw")
            return (
                reading is not None
                and reading.ts >= r.clock()
                and abs(reading.value - expected) < 1e-6
            )

        await wait_for(followed, "load1.p_kw at 60 % of its profile")


def without_pv_ramp(config: SiteConfig) -> SiteConfig:
    """pv1 without its 25 %/min ramp, so a 30 % first step is not clamped to 25 % (this
    test is about the approval of a 120 kW shed, not the ramp)."""
    assets = [
        a.model_copy(update={"limits": a.limits.model_copy(update={"ramp_pct_per_min": None})})
        if a.id == "pv1"
        else a
        for a in config.assets
    ]
    return config.model_copy(update={"assets": assets})


async def test_a_first_curtailment_of_a_ramp_limited_pv_ramps_from_the_reported_zero(
    tmp_path: Path, router: Router
) -> None:
    """The inverter reports 0 % before it was ever curtailed, so the gate ramps from there
    (a missing value would fail closed): 30 % clamped to the 25 %/min ramp, 100 kW shed
    (auto-approved), written and read back, and the field reports the new 25 %."""
    async with rig(tmp_path, at=AFTERNOON) as r:
        await wait_for(lambda: fresh(r, "pv1.curtail_pct"), "pv1.curtail_pct telemetry")
        reading = r.conductor.state.snapshot().get("pv1.curtail_pct")
        assert reading is not None and reading.value == 0.0
        did = await ask(r, router, "curtail pv1 by 30%", "p0")

        chain = kinds(r.events, did)
        assert in_order(chain, CHAIN), chain
        assert "dispatch.rejected" not in chain
        gated = next(r.events.events(dispatch_id=did, kinds=("dispatch.gated",)))
        assert gated.payload["outcome"] == "clamped" and gated.payload["value"] == 25.0
        assert {h["constraint"] for h in gated.payload["constraints"]} == {"ramp"}
        auto = next(r.events.events(dispatch_id=did, kinds=("approval.auto",)))
        assert "|100| kW <= auto-approve limit" in auto.payload["reason"]
        assert field_node(r, "ns=2;s=pv1.curtail_pct") == 25.0
        r.clock.advance(timedelta(seconds=10))

        def reported() -> bool:
            reading = r.conductor.state.snapshot().get("pv1.curtail_pct")
            return reading is not None and reading.ts >= r.clock() and reading.value == 25.0

        await wait_for(reported, "pv1.curtail_pct reported at 25 %")


async def test_pv_curtailment_needs_an_operator_over_the_auto_limit_and_reaches_the_inverter(
    tmp_path: Path, router: Router
) -> None:
    async with rig(tmp_path, at=AFTERNOON, adapt=without_pv_ramp) as r:
        await wait_for(lambda: fresh(r, "pv1.p_kw"), "pv1 telemetry")
        assert available_kw(r, "pv1") > 20, "the scenario must have the PV producing"
        # 400 kW rated x 30 % = 120 kW shed > the 100 kW auto-approve limit: one operator.
        did = await ask(r, router, "curtail pv1 by 30%", "p1")
        chain = kinds(r.events, did)
        assert chain[-1] == "approval.requested", chain
        requested = next(r.events.events(dispatch_id=did, kinds=("approval.requested",)))
        assert requested.payload["value"] == 30.0
        assert requested.payload["requirement"] == "one_operator"

        plan = approvals.find_pending(r.events, did).plan_hash
        approvals.approve(r.events, did, "bob", "checked", r.clock(), plan_hash=plan)
        await r.conductor.check_approvals(r.clock())
        record = r.conductor.projections.open.get(did)
        assert record is None or record.state is State.VERIFIED, record
        assert in_order(kinds(r.events, did), ["approval.granted", "dispatch.verified"])
        assert field_node(r, "ns=2;s=pv1.curtail_pct") == 30.0
        r.clock.advance(timedelta(minutes=1))
        expected = available_kw(r, "pv1") * 0.7

        def followed() -> bool:
            reading = r.conductor.state.snapshot().get("pv1.p_kw")
            return (
                reading is not None
                and reading.ts >= r.clock()
                and abs(reading.value - expected) < 1e-6
            )

        await wait_for(followed, "pv1.p_kw at 70 % of its profile")


def observe_after(action: str) -> Callable[[SiteConfig], SiteConfig]:
    def adapt(config: SiteConfig) -> SiteConfig:
        observe = ObserveConfig(after_s=60, curtail_tolerance_pct=5, on_mismatch=action)
        return config.model_copy(update={"observe": observe})

    return adapt


async def curtail_load1_and_wait(r: Rig, router: Router) -> str:
    """load1 curtailed 40 % (60 % asked, clamped), verified, then the clock 60 s on."""
    await wait_for(lambda: fresh(r, "load1.p_kw"), "load1 telemetry")
    did = await ask(r, router, "curtail load1 by 60%", "o1")
    assert "dispatch.verified" in kinds(r.events, did)
    return did


async def next_cycle(r: Rig, *points: str) -> None:
    r.clock.advance(timedelta(seconds=60))
    for point in points:
        await wait_for(lambda p=point: fresh(r, p), f"{point} at the new time")
    await r.conductor.cycle(r.clock())


async def test_a_curtailment_the_load_follows_is_observed_as_followed(
    tmp_path: Path, router: Router
) -> None:
    async with rig(tmp_path, adapt=observe_after("alert")) as r:
        did = await curtail_load1_and_wait(r, router)
        await next_cycle(r, "load1.p_kw")
        (seen,) = [e for e in r.events.events(kinds=("agent.curtailment_observed",))]
        assert seen.dispatch_id == did
        p = seen.payload
        assert (p["outcome"], p["action"], p["curtail_pct"]) == ("followed", "none", 40.0)
        assert p["measured_kw"] <= p["expected_max_kw"] + p["tolerance_kw"]
        assert p["expected_max_kw"] == pytest.approx(0.6 * p["uncurtailed_kw"])
        assert "curtailment followed" in p["reason"]
        assert r.conductor.agents.stats()["observation_mismatches"] == 0
        told = explain(r.events, did)
        assert "response observed: followed (action: none)" in told
        assert "curtailment followed" in told
        for line in ("curtail_pct = 60 %", "(rollback point): 0 %", "allows 40 %", "runs 40 %"):
            assert line in told, f"{line!r}: a curtailment's values are percent, not kW"
        await next_cycle(r, "load1.p_kw")  # judged once
        assert len(list(r.events.events(kinds=("agent.curtailment_observed",)))) == 1


@pytest.mark.parametrize(
    "action",
    [
        "alert",
        pytest.param(
            "revert",
            marks=pytest.mark.xfail(
                strict=False,
                reason="known defect, open: the OPC UA server stamps the runtime's own 40 % "
                "write with the wall clock, ahead of the rig's simulated clock, so the site's "
                "later 0 % (stamped by the simulator) is dropped as out of order in about 2 runs "
                "in 5 (runtime/ingest/state.py keeps a future-stamped sample)",
            ),
        ),
    ],
)
async def test_a_curtailment_undone_at_the_site_is_a_mismatch(
    tmp_path: Path, router: Router, action: str
) -> None:
    """Someone at the site puts the load's register back to 0 % after the runtime's
    read-back verified 40 %: the read-back cannot see it, the measured power does."""
    async with rig(tmp_path, adapt=observe_after(action)) as r:
        did = await curtail_load1_and_wait(r, router)
        local = Client(r.config.sources[0].endpoint)
        await local.connect()
        try:
            await local.get_node("ns=2;s=load1.curtail_pct").write_value(
                ua.DataValue(ua.Variant(0.0, ua.VariantType.Double))
            )
        finally:
            await local.disconnect()

        def undone() -> bool:  # the runtime has the site's 0 %, not its own 40 % write
            reading = r.conductor.state.get("load1.curtail_pct")
            return reading is not None and reading.value == 0.0

        # the server stamps both writes with the wall clock, ahead of the rig's clock, so
        # "at the new time" alone is already true of the runtime's own 40 % write
        await wait_for(undone, "load1.curtail_pct back at 0 % in the runtime's state")
        await next_cycle(r, "load1.p_kw", "load1.curtail_pct")
        (seen,) = [e for e in r.events.events(kinds=("agent.curtailment_observed",))]
        p = seen.payload
        assert (seen.dispatch_id, p["outcome"], p["action"]) == (did, "mismatch", action)
        assert p["measured_kw"] > p["expected_max_kw"] + p["tolerance_kw"]
        assert p["reason"].endswith("not followed (the device reports curtail_pct 0 %)")
        assert r.conductor.agents.stats()["observation_mismatches"] == 1
        reverted = list(r.events.events(dispatch_id=did, kinds=("dispatch.reverted",)))
        if action == "revert":
            (rev,) = reverted
            assert rev.payload["by"] == "agent:observe" and rev.payload["value"] == 0.0
            assert "not followed" in rev.payload["reason"]
        else:
            assert reverted == []

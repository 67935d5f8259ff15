"""The approval workflow's rules: plan binding, used once, two people, expiry, escalation,
re-validation at approval time, metrics and the request detail.

The book tests write a real event log (SQLite in tmp) event by event; the conductor
tests run the real conductor on the demo feeder config with telemetry fed in as
samples (no device is written: every path here stops before the outbox).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors import Sample, SampleQuality
from runtime.approvals import book as approvals
from runtime.audit import explain
from runtime.conductor.loop import Conductor
from runtime.config.load import load_config
from runtime.config.model import ApprovalsConfig
from runtime.core.clock import FixedClock
from runtime.core.errors import NotFound
from runtime.log import events as ev
from runtime.log.dispatch_events import DispatchBody
from runtime.log.event_base import CommandBody, HitBody
from runtime.log.eventlog import EventLog, Pending

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 7, 15, 18, 45, tzinfo=UTC)


def command(key: str, value: float = 150.0) -> CommandBody:
    return CommandBody(
        key=key,
        asset="bat1",
        kind="active_power_kw",
        value=value,
        start=T0,
        end=T0 + timedelta(minutes=15),
        origin="agent",
    )


def request(
    log: EventLog,
    did: str,
    *,
    at: datetime = T0,
    value: float = 150.0,
    requirement: str = "one_operator",
    proposed_by: str = "policy:peak_shaving",
    grid_report: dict[str, Any] | None = None,
) -> str:
    """proposed -> gated (clamped) -> simulated -> approval.requested; returns the plan hash."""
    cmd = command(did, value + 30)
    plan = [command(did, value)]
    digest = approvals.plan_hash([c.model_dump(mode="json") for c in plan])
    log.append_event(
        ev.DispatchProposed(
            command=cmd,
            policy="peak_shaving",
            rationale="feeder import 1330 kW above the 1100 kW threshold",
            snapshot={},
            rollback_kw=20.0,
            last_setpoint_kw=20.0,
        ),
        ts=at,
        dispatch_id=did,
    )
    log.append_event(
        ev.DispatchGated(
            outcome="clamped",
            value=value,
            constraints=[
                HitBody(
                    constraint="ramp.active_power_kw",
                    reason="bat1 may move 200 kW/min from 20 kW",
                    limit=value,
                    observed=value + 30,
                )
            ],
        ),
        ts=at,
        dispatch_id=did,
    )
    log.append_event(
        ev.DispatchSimulated(
            ok=True,
            summary="no violations",
            violations=[],
            steps=3,
            step_s=300,
            peak_kw_plan=1180.0,
            peak_kw_baseline=1330.0,
            energy_shifted_kwh=37.5,
        ),
        ts=at,
        dispatch_id=did,
    )
    log.append_event(
        ev.ApprovalRequested(
            requirement=requirement,
            expires_at=at + timedelta(minutes=15),
            asset="bat1",
            value=value,
            rationale="feeder import 1330 kW above the 1100 kW threshold",
            simulation="no violations",
            grid_report=grid_report,
            commands=plan,
            plan_hash=digest,
            proposed_by=proposed_by,
            rollback_kw=20.0,
            escalate_at=at + timedelta(minutes=5),
        ),
        ts=at,
        dispatch_id=did,
    )
    return digest


@pytest.fixture
def log(tmp_path: Path) -> EventLog:
    return EventLog(tmp_path / "events.db")


# --- plan hash ----------------------------------------------------------------------


def test_plan_hash_is_canonical_and_changes_with_the_plan() -> None:
    body = command("d1").model_dump(mode="json")
    same = {**dict(reversed(list(body.items()))), "value": 150}  # key order, int vs float
    same["start"] = T0.isoformat()  # "+00:00" instead of "Z"
    assert approvals.plan_hash([body]) == approvals.plan_hash([same])
    assert approvals.plan_hash([body]) != approvals.plan_hash([{**body, "value": 150.5}])
    assert approvals.plan_hash([body]) != approvals.plan_hash([{**body, "asset": "bat2"}])
    assert len(approvals.plan_hash([body])) == 64


def test_the_recorded_hash_is_the_hash_of_the_recorded_plan(log: EventLog) -> None:
    digest = request(log, "d1")
    (p,) = approvals.pending(log)
    assert p.plan_hash == digest == approvals.plan_hash(p.request["commands"])


# --- approve / reject rules ------------------------------------------------------------


def test_a_grant_for_another_plan_is_refused(log: EventLog) -> None:
    digest = request(log, "d1")
    other = approvals.plan_hash([command("d1", 180.0).model_dump(mode="json")])
    with pytest.raises(approvals.ApprovalError, match="reload the request") as err:
        approvals.approve(log, "d1", "alice", "ok", T0, plan_hash=other)
    assert "bat1 active_power_kw = 150" in str(err.value)  # says what is pending now
    with pytest.raises(approvals.ApprovalError, match="no plan hash"):
        approvals.approve(log, "d1", "alice", "ok", T0)
    assert not list(log.events(kinds=(approvals.GRANTED,)))
    approvals.approve(log, "d1", "alice", "ok", T0, plan_hash=digest)
    (grant,) = log.events(kinds=(approvals.GRANTED,))
    assert grant.payload["plan_hash"] == digest


def test_the_proposer_cannot_approve(log: EventLog) -> None:
    digest = request(log, "d1", proposed_by="olga")
    with pytest.raises(approvals.ApprovalError, match="olga proposed d1 and cannot approve"):
        approvals.approve(log, "d1", "olga", "mine", T0, plan_hash=digest)
    approvals.approve(log, "d1", "alice", "ok", T0, plan_hash=digest)
    assert approvals.find_pending(log, "d1").approvers == ("alice",)


def test_two_person_rule_needs_two_distinct_operators_then_takes_no_more(log: EventLog) -> None:
    digest = request(log, "d1", requirement="two_operators")
    approvals.approve(log, "d1", "alice", "ok", T0, plan_hash=digest)
    assert not approvals.find_pending(log, "d1").complete
    with pytest.raises(approvals.ApprovalError, match="needs another operator"):
        approvals.approve(log, "d1", "alice", "again", T0, plan_hash=digest)
    approvals.approve(log, "d1", "bob", "ok", T0, plan_hash=digest)
    assert approvals.find_pending(log, "d1").complete
    with pytest.raises(approvals.ApprovalError, match="already has the approvals it needs"):
        approvals.approve(log, "d1", "carol", "me too", T0, plan_hash=digest)


def test_a_used_or_closed_request_cannot_be_approved_again(log: EventLog) -> None:
    digest = request(log, "d1")
    approvals.approve(log, "d1", "alice", "ok", T0, plan_hash=digest)
    log.append_event(
        ev.DispatchGated(outcome="accepted", value=150.0, constraints=[], recheck=True),
        ts=T0,
        dispatch_id="d1",
    )
    log.append_event(
        ev.DispatchApproved(command=command("d1"), value=150.0, source="field", rollback_kw=20.0),
        ts=T0,
        dispatch_id="d1",
    )
    assert approvals.pending(log) == []
    with pytest.raises(approvals.ApprovalError, match="used once"):
        approvals.approve(log, "d1", "bob", "ok", T0, plan_hash=digest)
    with pytest.raises(NotFound):
        approvals.approve(log, "nope", "bob", "ok", T0, plan_hash=digest)


def test_a_rejection_needs_a_reason(log: EventLog) -> None:
    request(log, "d1")
    with pytest.raises(approvals.ApprovalError, match="needs a reason"):
        approvals.reject(log, "d1", "alice", "  ", T0)
    approvals.reject(log, "d1", "alice", "crew on site", T0)
    assert approvals.pending(log) == []


def test_an_old_v1_request_still_loads_and_can_be_approved(log: EventLog) -> None:
    """A log written before plan binding: upcast on read, approvable without a hash."""
    body = {
        "v": 1,
        "requirement": "one_operator",
        "expires_at": (T0 + timedelta(minutes=15)).isoformat(),
        "asset": "bat1",
        "value": 150.0,
        "rationale": "r",
        "simulation": "ok",
    }
    log.append_many([Pending("approval.requested", body, T0, "old")], validate=False)
    (p,) = approvals.pending(log)
    assert p.plan_hash is None and p.proposed_by == "" and p.request["v"] == 2
    assert isinstance(next(log.events()).typed(), ev.ApprovalRequested)
    approvals.approve(log, "old", "alice", "ok", T0)
    assert approvals.find_pending(log, "old").approvers == ("alice",)


def test_the_local_cli_shows_the_hash_it_approves(
    log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from runtime.api.auth import UserStore
    from runtime.cli import main as gridaios

    digest = request(log, "d1", requirement="two_operators")
    store = UserStore(tmp_path / "users.db")
    tokens = {}
    for name in ("alice", "bob"):
        store.add(name, "correct horse", "operator", T0)
        tokens[name] = store.issue(name, "api", T0, None).token
    store.close()
    db = ["approvals", "--db", str(tmp_path / "events.db")]
    assert gridaios([*db, "show", "d1"]) == 0
    out = capsys.readouterr().out
    assert f"plan_hash: {digest}" in out and "if nobody acts:" in out
    wrong = "0" * 64
    alice = ["--user", "alice", "--token", tokens["alice"]]
    assert gridaios([*db, "approve", "d1", *alice, "--plan-hash", wrong]) == 1
    assert "reload the request" in capsys.readouterr().err
    assert gridaios([*db, "approve", "d1", *alice]) == 0
    assert f"approving the pending plan, plan_hash {digest}" in capsys.readouterr().out
    bob = ["--token", tokens["bob"]]
    assert gridaios([*db, "approve", "d1", *bob, "--plan-hash", digest]) == 0
    assert approvals.find_pending(log, "d1").approvers == ("alice", "bob")


# --- config ---------------------------------------------------------------------------


def test_escalation_must_come_before_expiry() -> None:
    with pytest.raises(ValueError, match=r"escalate_after_s \(600\) must be < expiry_s"):
        ApprovalsConfig(
            auto_approve_max_kw=10, two_person_min_kw=20, expiry_s=600, escalate_after_s=600
        )
    with pytest.raises(ValueError, match="escalate_to"):
        ApprovalsConfig(auto_approve_max_kw=10, two_person_min_kw=20, escalate_to=[])
    demo = load_config(REPO / "configs" / "demo-feeder.yaml").approvals
    assert demo.escalate_after_s < demo.expiry_s and demo.escalate_to


# --- metrics and detail -------------------------------------------------------------------


def test_metrics_on_a_constructed_log(log: EventLog) -> None:
    d1 = request(log, "d1", at=T0)  # approved after 120 s
    approvals.approve(log, "d1", "alice", "ok", T0 + timedelta(seconds=120), plan_hash=d1)
    d2 = request(log, "d2", at=T0, requirement="two_operators")  # 60 s, then 300 s
    approvals.approve(log, "d2", "alice", "ok", T0 + timedelta(seconds=60), plan_hash=d2)
    approvals.approve(log, "d2", "bob", "ok", T0 + timedelta(seconds=300), plan_hash=d2)
    request(log, "d3", at=T0)  # rejected after 30 s
    approvals.reject(log, "d3", "carol", "crew on site", T0 + timedelta(seconds=30))
    request(log, "d4", at=T0)  # escalated, then expired
    later = T0 + timedelta(minutes=5)
    log.append_event(
        ev.ApprovalEscalated(after_s=300, escalate_to=["duty engineer"], reason="r"),
        ts=later,
        dispatch_id="d4",
    )
    log.append_event(
        ev.ApprovalExpired(reason="r"), ts=T0 + timedelta(minutes=15), dispatch_id="d4"
    )
    request(log, "d5", at=T0 + timedelta(minutes=20))  # still pending
    # d1 was approved by people, then blocked by the re-check against fresh state
    log.append_event(
        ev.DispatchGated(outcome="accepted", value=150.0, constraints=[], recheck=True),
        ts=T0 + timedelta(seconds=121),
        dispatch_id="d1",
    )
    log.append_event(
        ev.DispatchSimulated(
            ok=False,
            summary="transformer overload",
            violations=[],
            steps=3,
            step_s=300,
            peak_kw_plan=1,
            peak_kw_baseline=1,
            energy_shifted_kwh=0,
        ),
        ts=T0 + timedelta(seconds=121),
        dispatch_id="d1",
    )
    log.append_event(
        ev.DispatchBlocked(reason="re-validation"),
        ts=T0 + timedelta(seconds=121),
        dispatch_id="d1",
    )
    for i in range(3):  # three automatic approvals
        log.append_event(
            ev.ApprovalAuto(requirement="auto", reason="small"), ts=T0, dispatch_id=f"a{i}"
        )

    m = approvals.metrics(log, T0 + timedelta(minutes=30))
    assert m.time_to_decision_s == [120.0, 300.0, 30.0]
    assert (m.requested, m.auto, m.approved, m.rejected) == (5, 3, 2, 1)
    assert (m.expired, m.escalated, m.blocked_at_approval, m.pending) == (1, 1, 1, 1)
    assert m.oldest_pending_s == 600.0
    assert m.human_intervention_rate == pytest.approx(5 / 8)
    assert m.p50_s == 120.0 and m.p90_s == pytest.approx(264.0)
    assert m.as_json()["time_to_decision_p50_s"] == 120.0


def test_metrics_of_an_empty_log(log: EventLog) -> None:
    m = approvals.metrics(log, T0)
    assert m.time_to_decision_s == [] and m.p50_s is None and m.human_intervention_rate == 0.0


def test_detail_carries_what_an_operator_needs(log: EventLog) -> None:
    grid = {
        "ok": True,
        "kpis": {
            "plan": {"peak_import_kw": 1180.0},
            "baseline": {
                "peak_import_kw": 1330.0,
                "vmin_pu": 0.948,
                "vmin_bus": "feeder_end",
                "max_loading_pct": 104.0,
            },
        },
        "baseline_violations": [{"kind": "thermal", "message": "line L3 loading 104 %"}],
    }
    digest = request(log, "d1", grid_report=grid, proposed_by="olga")
    d = approvals.detail(log, "d1")
    assert d["status"] == "pending" and d["plan_hash"] == digest
    assert d["commands"][0]["value"] == 150.0 and d["proposed_by"] == "olga"
    assert d["plan"] == "bat1 active_power_kw = 150 kW (discharge) from 18:45 to 19:00 UTC"
    (verdict,) = d["verdicts"]
    assert verdict["outcome"] == "clamped"
    assert verdict["constraints"][0]["constraint"] == "ramp.active_power_kw"
    assert d["rollback_kw"] == 20.0
    assert d["do_nothing"]["peak_import_kw"] == 1330.0
    assert "line L3 loading 104 %" in d["do_nothing"]["summary"]
    assert "bat1 may move 200 kW/min" in d["explanation"]
    assert "If nobody acts: the setpoint stays at 20 kW" in d["explanation"]
    assert d["simulation"]["runs"][0]["peak_kw_baseline"] == 1330.0
    assert d["decision_record"] == explain.explain(log, "d1")
    approvals.approve(log, "d1", "alice", "ok", T0, plan_hash=digest)
    d = approvals.detail(log, "d1")
    assert d["status"] == "approved" and d["approvers"] == ["alice"]
    assert d["grants"][0]["plan_hash"] == digest
    with pytest.raises(NotFound):
        approvals.detail(log, "nope")


def test_detail_of_a_v1_request_says_it_has_no_plan_hash(log: EventLog) -> None:
    """A v1 request bound no plan: detail shows no hash (never a derived one) and the
    proposal's command at the value the gate allowed."""
    request(log, "d1")  # the v2 chain, whose proposal is for 180 kW clamped to 150 kW
    chain = [e for e in log.events(dispatch_id="d1") if e.kind != "approval.requested"]
    old = {
        "v": 1,
        "requirement": "one_operator",
        "expires_at": (T0 + timedelta(minutes=15)).isoformat(),
        "asset": "bat1",
        "value": 150.0,
        "rationale": "r",
        "simulation": "ok",
    }
    v1 = EventLog(log.path.with_name("v1.db"))
    v1.append_many(
        [
            *(Pending(e.kind, dict(e.payload), e.ts, "old") for e in chain),
            Pending("approval.requested", old, T0, "old"),
        ],
        validate=False,
    )
    d = approvals.detail(v1, "old")
    assert d["plan_hash"] is None and d["proposed_by"] == ""
    assert [c["value"] for c in d["commands"]] == [150.0]
    assert [v["seq"] for v in d["verdicts"]] == [2]
    assert "plan_hash: none recorded (v1 request" in explain.explain(v1, "old")


def test_explain_shows_proposer_plan_hash_escalation_and_the_gate_inputs(log: EventLog) -> None:
    digest = request(log, "d1", proposed_by="olga")
    log.append_event(
        ev.ApprovalEscalated(
            after_s=300, escalate_to=["duty engineer", "control room"], reason="unanswered"
        ),
        ts=T0 + timedelta(minutes=5),
        dispatch_id="d1",
    )
    history = [
        DispatchBody(asset="bat1", kind="active_power_kw", value=v, at=T0 - timedelta(minutes=m))
        for v, m in ((100.0, 10), (120.0, 4))
    ]
    log.append_event(
        ev.DispatchGated(
            outcome="accepted",
            value=150.0,
            constraints=[],
            recheck=True,
            history=history,
            forecast_note="seasonal naive from yesterday, 3 steps",
        ),
        ts=T0 + timedelta(minutes=6),
        dispatch_id="d1",
    )
    text = explain.explain(log, "d1")
    lines = text.splitlines()

    def line(start: str) -> str:
        return next(x.strip() for x in lines if x.strip().startswith(start))

    assert line("proposed by: ") == "proposed by: olga"
    assert line("plan_hash: ") == f"plan_hash: {digest}"
    (escalated,) = [x for x in lines if "  escalated: " in x]
    assert escalated.endswith(
        "#5  escalated: called duty engineer, control room at 18:50:00 UTC, "
        "300 s unanswered (unanswered)"
    )
    # the first verdict was recorded without inputs (defaults), the re-check with them
    assert [x.strip() for x in lines if x.strip().startswith("history: ")] == [
        "history: 0 recent dispatches of the asset (ramp, rate limit, minimum on/off)",
        "history: 2 recent dispatches of the asset (ramp, rate limit, minimum on/off)",
    ]
    assert [x.strip() for x in lines if x.strip().startswith("forecast: ")] == [
        "forecast: no forecast; no note recorded",
        "forecast: no forecast; seasonal naive from yesterday, 3 steps",
    ]


# --- the conductor: escalation, expiry, re-validation ---------------------------------------


def feed(c: Conductor, at: datetime, **values: float) -> None:
    for i, (point, value) in enumerate(values.items()):
        c._on_sample(
            Sample(
                point=point.replace("__", "."),
                value=value,
                unit="kW",
                quality=SampleQuality.GOOD,
                source_ts=at,
                received_ts=at,
                sequence=i,
            )
        )


def feeder_state(c: Conductor, at: datetime, meter_kw: float = 1330.0) -> None:
    feed(
        c,
        at,
        substation__p_kw=meter_kw,
        bat1__p_kw=0.0,
        bat1__soc_pct=85.0,
        pv1__p_kw=0.0,
        load1__p_kw=200.0,
    )


def make_conductor(tmp_path: Path, **rules: object) -> tuple[Conductor, FixedClock]:
    config = load_config(REPO / "configs" / "demo-feeder.yaml")
    config = config.model_copy(update={"approvals": config.approvals.model_copy(update=rules)})
    clock = FixedClock(T0)
    c = Conductor(config, EventLog(tmp_path / "events.db"), clock)
    feeder_state(c, T0)
    return c, clock


def kinds_of(c: Conductor, did: str) -> list[str]:
    return [e.kind for e in c.events.events(dispatch_id=did)]


async def requested(c: Conductor, clock: FixedClock) -> str:
    await c.cycle(clock())
    (did,) = c.dispatch_ids
    assert kinds_of(c, did)[-1] == "approval.requested", kinds_of(c, did)
    return did


async def test_the_request_binds_the_gated_plan_and_names_the_proposer(tmp_path: Path) -> None:
    c, clock = make_conductor(tmp_path, auto_approve_max_kw=50, two_person_min_kw=400)
    did = await requested(c, clock)
    p = approvals.find_pending(c.events, did)
    (cmd,) = p.request["commands"]
    assert cmd["value"] == 200.0  # the gate's clamp (ramp from rest), not the proposed 230
    assert p.plan_hash == approvals.plan_hash([cmd])
    assert p.proposed_by == "policy:peak_shaving"
    assert p.request["rollback_kw"] == 0.0
    d = approvals.detail(c.events, did)
    assert d["do_nothing"]["source"] == "grid power flow, no-action baseline"
    assert d["grid_report"]["ok"] is True


async def test_an_operator_intent_cannot_be_approved_by_its_author(tmp_path: Path) -> None:
    from runtime.decide.policy import Proposal
    from safety import Command, CommandKind, Origin

    c, clock = make_conductor(tmp_path, auto_approve_max_kw=50, two_person_min_kw=400)
    intent = Command(
        key="ask-1",
        asset="bat1",
        kind=CommandKind.ACTIVE_POWER_KW,
        value=120.0,
        start=clock(),
        end=clock() + timedelta(minutes=15),
        origin=Origin.OPERATOR,
    )
    proposal = Proposal(command=intent, policy="operator intent", rationale="discharge 120 kW")
    await c.handle(proposal, c.state.snapshot(), clock(), proposed_by="olga")
    p = approvals.find_pending(c.events, "ask-1")
    assert p.proposed_by == "olga"
    with pytest.raises(approvals.ApprovalError, match="olga proposed ask-1"):
        approvals.approve(c.events, "ask-1", "olga", "mine", clock(), plan_hash=p.plan_hash)
    # A grant written around approve() is not counted by the conductor either.
    c.events.append(
        approvals.GRANTED,
        {"user": "olga", "reason": "bypass", "plan_hash": p.plan_hash},
        ts=clock(),
        dispatch_id="ask-1",
    )
    await c.check_approvals(clock())
    assert kinds_of(c, "ask-1")[-1] == "approval.granted" and c.counts["sent"] == 0


async def test_escalation_once_with_a_warning_naming_who_to_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    c, clock = make_conductor(
        tmp_path,
        auto_approve_max_kw=50,
        two_person_min_kw=400,
        escalate_after_s=120,
        escalate_to=["duty engineer", "Sam (control room)"],
    )
    did = await requested(c, clock)
    clock.advance(timedelta(seconds=119))
    await c.check_approvals(clock())
    assert "approval.escalated" not in kinds_of(c, did)
    assert approvals.pending(c.events)[0].escalated is False
    clock.advance(timedelta(seconds=1))
    with caplog.at_level(logging.WARNING, logger="runtime.conductor"):
        await c.check_approvals(clock())
        for _ in range(3):
            clock.advance(timedelta(seconds=30))
            await c.check_approvals(clock())
    (event,) = c.events.events(dispatch_id=did, kinds=("approval.escalated",))
    assert event.payload["escalate_to"] == ["duty engineer", "Sam (control room)"]
    assert event.ts == T0 + timedelta(seconds=120)
    warnings = [r for r in caplog.records if "unanswered" in r.getMessage()]
    assert len(warnings) == 1 and "Sam (control room)" in warnings[0].getMessage()
    assert warnings[0].levelno == logging.WARNING
    (p,) = approvals.pending(c.events)
    assert p.escalated is True
    assert approvals.metrics(c.events, clock()).escalated == 1


async def test_expiry_keeps_the_safe_default(tmp_path: Path) -> None:
    c, clock = make_conductor(tmp_path, auto_approve_max_kw=50, two_person_min_kw=400)
    did = await requested(c, clock)
    clock.advance(timedelta(seconds=c.config.approvals.expiry_s - 1))
    await c.check_approvals(clock())
    assert approvals.find_pending(c.events, did)
    clock.advance(timedelta(seconds=1))
    await c.check_approvals(clock())
    assert kinds_of(c, did)[-1] == "approval.expired"
    assert "dispatch.approved" not in kinds_of(c, did)  # nothing reached the outbox
    assert c.counts["expired"] == 1 and c.counts["sent"] == 0
    assert approvals.metrics(c.events, clock()).expired == 1
    with pytest.raises(approvals.ApprovalError, match="not awaiting approval any more"):
        approvals.approve(c.events, did, "alice", "late", clock(), plan_hash="x")


async def test_a_grant_that_arrives_after_expiry_never_dispatches(tmp_path: Path) -> None:
    c, clock = make_conductor(tmp_path, auto_approve_max_kw=50, two_person_min_kw=400)
    did = await requested(c, clock)
    clock.advance(timedelta(seconds=c.config.approvals.expiry_s))
    p = approvals.find_pending(c.events, did)  # the runtime has not looked yet
    with pytest.raises(approvals.ApprovalError, match="expired at"):
        approvals.approve(c.events, did, "alice", "late", clock(), plan_hash=p.plan_hash)
    # a late grant written around approve(): the runtime still expires the request first
    c.events.append(
        approvals.GRANTED,
        {"user": "alice", "reason": "late", "plan_hash": p.plan_hash},
        ts=clock(),
        dispatch_id=did,
    )
    await c.check_approvals(clock())
    assert kinds_of(c, did)[-2:] == ["approval.granted", "approval.expired"]
    assert c.counts["sent"] == 0


async def test_revalidation_blocks_a_plan_that_became_unsafe_before_approval(
    tmp_path: Path,
) -> None:
    c, clock = make_conductor(tmp_path, auto_approve_max_kw=50, two_person_min_kw=400)
    did = await requested(c, clock)
    p = approvals.find_pending(c.events, did)
    approvals.approve(c.events, did, "alice", "looks right", clock(), plan_hash=p.plan_hash)
    # Between request and approval the feeder load jumps: even with the battery's 200 kW
    # the transformer (1600 kW) would be overloaded for the plan's whole horizon.
    clock.advance(timedelta(seconds=30))
    feeder_state(c, clock(), meter_kw=2100.0)
    await c.check_approvals(clock())
    chain = kinds_of(c, did)
    # the re-check is the whole decision step again (decide_step): gate, twin, power flow
    assert chain[-4:] == [
        "dispatch.gated",
        "dispatch.simulated",
        "dispatch.grid_validated",
        "dispatch.blocked",
    ], chain
    regate = next(
        e
        for e in c.events.events(dispatch_id=did, kinds=("dispatch.gated",))
        if e.payload["recheck"]
    )
    assert regate.payload["outcome"] in ("accepted", "clamped")  # the gate alone lets it pass
    (blocked,) = c.events.events(dispatch_id=did, kinds=("dispatch.blocked",))
    assert blocked.payload["reason"].startswith("re-validation at approval against fresh state")
    assert "transformer" in blocked.payload["reason"]
    assert "dispatch.approved" not in chain and c.counts["sent"] == 0
    await c.check_approvals(clock())  # and it is never picked up again
    assert kinds_of(c, did) == chain
    assert approvals.metrics(c.events, clock()).blocked_at_approval == 1


async def test_a_curtailment_that_grew_past_two_person_at_approval_is_not_sent_on_one_grant(
    tmp_path: Path,
) -> None:
    """The approval rule is part of the re-check: a load curtailment requested at 30 % of
    200 kW (60 kW: one operator) whose load has grown to 500 kW by approval sheds 150 kW,
    at or above the two-person limit (100 kW). One grant must not send it."""
    from runtime.decide.policy import Proposal
    from safety import Command, CommandKind, Origin

    c, clock = make_conductor(tmp_path, auto_approve_max_kw=50, two_person_min_kw=100)
    feed(c, clock(), load1__curtail_pct=0.0)
    cmd = Command(
        key="demo-feeder-load1-op-grow",
        asset="load1",
        kind=CommandKind.CURTAIL_PCT,
        value=30.0,
        start=clock(),
        end=clock() + timedelta(minutes=30),
        origin=Origin.OPERATOR,
    )
    proposal = Proposal(command=cmd, policy="operator_intent", rationale="test")
    await c.handle(proposal, c.state.snapshot(), clock(), proposed_by="bob")
    did = cmd.key
    (req,) = c.events.events(dispatch_id=did, kinds=("approval.requested",))
    assert req.payload["requirement"] == "one_operator", kinds_of(c, did)
    p = approvals.find_pending(c.events, did)
    approvals.approve(c.events, did, "alice", "ok", clock(), plan_hash=p.plan_hash)
    clock.advance(timedelta(seconds=30))
    feed(c, clock(), load1__p_kw=500.0, load1__curtail_pct=0.0)
    await c.check_approvals(clock())
    assert c.counts["sent"] == 0, kinds_of(c, did)
    (blocked,) = c.events.events(dispatch_id=did, kinds=("dispatch.blocked",))
    assert "now needs two_operators (150 kW), requested as one_operator" in str(
        blocked.payload["reason"]
    )

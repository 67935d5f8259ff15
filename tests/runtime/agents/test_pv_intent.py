"""PV curtailment for over-voltage (table) and operator intents from the router."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from forecasting.router import Router, load_router_config
from runtime.agents import OperatorRequest, interpret
from runtime.agents.intent import OperatorIntentAgent, request, requested
from runtime.agents.pv import PvCurtailAgent
from runtime.core.errors import ConfigError
from runtime.log.eventlog import EventLog
from safety import CommandKind, Origin

from .support import REPO, T0, conductor, config, feed, kinds, perception
from .test_conductor import FIELD


def with_voltage_point(raw: dict[str, Any]) -> None:
    meter = next(a for a in raw["assets"] if a["id"] == "substation")
    meter["points"]["v_end_pu"] = {"source": "field", "node": "ns=2;s=substation.v_end_pu"}
    raw["safety"]["buses"] = [
        {"id": "feeder_end", "point": "substation.v_end_pu", "min_pu": 0.95, "max_pu": 1.05}
    ]
    raw["agents"]["pv_curtailment"] = {"enabled": True, "pv": "pv1", "bus": "feeder_end"}


PV_CFG = config(with_voltage_point)


@pytest.mark.parametrize(
    ("voltage_pu", "curtail_pct", "expected"),
    [
        (1.062, 0, 20.0),  # over the limit: first step
        (1.058, 20, 40.0),  # still over: next step
        (1.049, 40, None),  # inside the hysteresis band: hold
        (1.030, 40, 20.0),  # well below: release a step
        (1.030, 0, None),  # nothing curtailed, nothing to release
        (1.070, 100, None),  # already fully curtailed
    ],
)
def test_pv_curtailment_table(
    voltage_pu: float, curtail_pct: float, expected: float | None
) -> None:
    p = perception({"pv1.curtail_pct": curtail_pct}, voltages_pu={"feeder_end": voltage_pu})
    decision = PvCurtailAgent().decide(p, PV_CFG, T0)
    values = [pr.command.value for pr in decision.proposals]
    assert values == ([] if expected is None else [expected])
    for pr in decision.proposals:
        assert pr.command.kind is CommandKind.CURTAIL_PCT and pr.command.asset == "pv1"


def test_pv_without_a_voltage_reading_has_no_confidence() -> None:
    decision = PvCurtailAgent().decide(perception({"pv1.curtail_pct": 0}), PV_CFG, T0)
    assert decision.confidence == 0.0 and decision.proposals == ()


def test_config_refuses_a_pv_agent_on_an_unknown_bus() -> None:
    def bad(raw: dict[str, Any]) -> None:
        raw["agents"]["pv_curtailment"] = {"enabled": True, "pv": "bat1", "bus": "nowhere"}

    with pytest.raises(ConfigError) as err:
        config(bad)
    text = str(err.value)
    assert "agents.pv_curtailment.pv" in text and "must name an asset of type pv" in text
    assert "agents.pv_curtailment.bus" in text and "unknown bus" in text


def test_config_refuses_unknown_agent_keys() -> None:
    def bad(raw: dict[str, Any]) -> None:
        raw["agents"]["peak_shaving"]["confidance"] = 0.5

    with pytest.raises(ConfigError, match=r"agents\.peak_shaving\.confidance"):
        config(bad)


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(load_router_config(REPO / "configs" / "router.yaml"))


def test_operator_intent_becomes_an_operator_proposal_with_the_user(router: Router) -> None:
    cfg = config()
    intent, tier = interpret("hold bat1 at 80 kW until 19:00", router)
    assert tier == "rules"
    req = OperatorRequest(
        request_id="r1",
        user="alice",
        text="hold bat1 at 80 kW until 19:00",
        intent=intent,
        tier=tier,
        received_at=T0,
    )
    decision = OperatorIntentAgent().decide(perception({}, requests=(req,)), cfg, T0)
    (p,) = decision.proposals
    assert p.proposer == "alice" and p.policy == "operator_intent"
    assert p.command.origin is Origin.OPERATOR
    assert (p.command.asset, p.command.value) == ("bat1", 80.0)
    assert p.command.end == T0 + timedelta(hours=1)  # until 19:00 (site zone UTC)
    assert p.command.key == "demo-feeder-bat1-op-r1"
    assert "alice" in p.rationale


def test_a_request_not_understood_proposes_nothing(router: Router) -> None:
    intent, tier = interpret("make it nice", router)
    req = OperatorRequest(
        request_id="r2", user="bob", text="make it nice", intent=intent, tier=tier, received_at=T0
    )
    decision = OperatorIntentAgent().decide(perception({}, requests=(req,)), config(), T0)
    assert decision.proposals == ()
    assert "not understood" in decision.rationale


async def test_an_operator_request_from_another_process_reaches_the_conductor(
    tmp_path: Path, router: Router
) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["approvals"]["auto_approve_max_kw"] = 0  # an operator signs off: nothing is sent

    c, _clock, events = conductor(tmp_path, config(edit))
    feed(c, FIELD, T0)
    text = "discharge bat1 at 60 kW"
    intent, tier = interpret(text, router)
    # e.g. `gridaios ask` in another process, writing to the same log
    other = EventLog(tmp_path / "events.db")
    old = request(
        other, user="bob", text=text, intent=intent, tier=tier, now=T0 - timedelta(hours=1)
    )
    rid = request(other, user="alice", text=text, intent=intent, tier=tier, now=T0)
    other.close()
    await c.cycle(T0)
    (proposed,) = kinds(events, "dispatch.proposed")
    assert proposed.dispatch_id == f"demo-feeder-bat1-op-{rid}"
    assert proposed.payload["policy"] == "operator_intent"
    assert proposed.payload["command"]["origin"] == "operator"
    assert proposed.payload["command"]["value"] == 60.0
    assert kinds(events, "approval.requested")[0].dispatch_id == proposed.dispatch_id
    decided = next(
        e.payload for e in kinds(events, "agent.decided") if e.payload["agent"] == "operator_intent"
    )
    assert decided["proposer"] == "alice"
    assert "bob" in decided["rationale"] and "not acted on" in decided["rationale"]
    assert old not in proposed.dispatch_id
    await c.cycle(T0 + timedelta(minutes=5))  # requests are consumed once
    ops = [
        e for e in kinds(events, "dispatch.proposed") if e.payload["policy"] == "operator_intent"
    ]
    assert len(ops) == 1
    events.close()


def test_gridaios_ask_propose_queues_the_request_for_the_conductor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from runtime.cli import main

    db = tmp_path / "events.db"
    EventLog(db).close()
    argv = ["ask", "discharge bat1 at 60 kW", "--no-llm", "--json", "--propose"]
    argv += ["--config", str(REPO / "configs" / "demo-feeder.yaml"), "--user", "carol"]
    argv += ["--router", str(REPO / "configs" / "router.yaml"), "--db", str(db)]
    assert main(argv) == 2  # not on a terminal: the read-back must be confirmed with its code
    err = capsys.readouterr().err
    assert "read-back: discharge bat1" in err and "--confirm" in err
    code = err.split("--confirm ")[-1].strip()
    argv += ["--confirm", code]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["dispatched"] is False and out["requested"]
    log = EventLog(db)
    ((_seq, req),) = requested(log, 0)
    log.close()
    assert (req.request_id, req.user, req.intent.action) == (out["requested"], "carol", "discharge")
    assert main([*argv[:-4], "--db", str(tmp_path / "none.db")]) == 2  # no runtime log there
    assert "no event log there" in capsys.readouterr().err

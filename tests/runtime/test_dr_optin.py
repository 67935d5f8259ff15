"""Opt-in with sign-off: the rule, and the approval book decided by `gridaios approvals`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.openadr.translate import Interval, OadrEvent
from runtime.approvals import book as approvals
from runtime.approvals.dr_optin import DECIDED, OptInDesk, dispatch_id, rule
from runtime.config.openadr import OpenAdrConfig, ProgramConfig
from runtime.log.eventlog import EventLog

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 7, 13, 15, tzinfo=UTC)
PROGRAM = "oadr://utility/summer-peak"


def _event(level: int = 3, hours: float = 2.0, event_id: str = "ev-1") -> OadrEvent:
    start = T0 + timedelta(hours=2)
    return OadrEvent(
        event_id=event_id,
        modification=0,
        status="far",
        program=PROGRAM,
        signal="simple/level",
        intervals=(Interval(start=start, end=start + timedelta(hours=hours), signal_level=level),),
        response_required=True,
    )


def _config(**program: object) -> OpenAdrConfig:
    return OpenAdrConfig.model_validate(
        {
            "vtn_url": "http://127.0.0.1:8080/OpenADR2/Simple/2.0b",
            "ven_id": "ven-1",
            "ven_name": "site",
            "programs": [{"name": PROGRAM, "response_deadline_s": 600, **program}],
        }
    )


def test_rule_auto_within_limits_operator_above_and_for_penalties() -> None:
    program = _config().programs[0]  # 100 kW / 200 kWh auto limits
    assert rule(_event(level=1, hours=1), program, 240).opt == "optIn"  # 80 kW, 80 kWh
    above_kw = rule(_event(level=3, hours=1), program, 240)  # 240 kW
    assert above_kw.opt is None and "240 kW is above the 100 kW" in above_kw.reason
    above_kwh = rule(_event(level=1, hours=3), program, 240)  # 80 kW x 3 h
    assert above_kwh.opt is None and "240 kWh is above the 200 kWh" in above_kwh.reason
    penalised = ProgramConfig(name=PROGRAM, penalty_per_kwh=0.5)
    assert rule(_event(level=1, hours=1), penalised, 240).opt is None
    assert rule(_event(), None, 240).opt == "optOut"


def _cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", "approvals", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def _operator(db: Path, name: str = "alice") -> list[str]:
    """A proven operator for a local grant: a users store next to --db, and a token of
    theirs (local approvals need an authenticated operator, docs/guarantees)."""
    from runtime.api.auth import UserStore

    store = UserStore(db.parent / "users.db")
    try:
        store.add(name, "correct horse", "operator", datetime.now(UTC))
        token = store.issue(name, "api", datetime.now(UTC), None).token
    finally:
        store.close()
    return ["--user", name, "--token", token]


def _decisions(log: EventLog) -> list[dict[str, object]]:
    return [dict(e.payload) for e in log.events(kinds=(DECIDED,))]


@pytest.mark.parametrize("answer", ["approve", "reject"])
async def test_an_operator_decides_through_gridaios_approvals(tmp_path: Path, answer: str) -> None:
    db = tmp_path / "events.db"
    log = EventLog(db)
    desk = OptInDesk(
        log, _config(), clock=lambda: T0, flexibility_kw=240, asset="bat1", poll_s=0.05
    )
    task = asyncio.create_task(desk(_event()))
    did = dispatch_id(_event())
    for _ in range(200):
        if approvals.pending(log):
            break
        await asyncio.sleep(0.02)
    listed = _cli(db, "list")
    assert did in listed.stdout, listed.stdout + listed.stderr
    args = _operator(db) + (["--reason", "crew on site"] if answer == "reject" else [])
    done = await asyncio.to_thread(_cli, db, answer, did, *args)
    assert done.returncode == 0, done.stderr
    opt = await asyncio.wait_for(task, 30)
    assert opt == ("optIn" if answer == "approve" else "optOut")
    [decided] = _decisions(log)
    assert decided["by"] == "operator" and decided["opt"] == opt
    assert approvals.pending(log) == []  # used once: no longer waiting for anyone


async def test_nobody_answers_before_the_deadline_the_program_default_applies(
    tmp_path: Path,
) -> None:
    log = EventLog(tmp_path / "events.db")
    now = [T0]

    async def sleep(_s: float) -> None:
        now[0] += timedelta(minutes=5)

    desk = OptInDesk(
        log,
        _config(opt_in_default="opt_in"),
        clock=lambda: now[0],
        flexibility_kw=240,
        asset="bat1",
        sleep=sleep,
    )
    assert await desk(_event()) == "optIn"
    [decided] = _decisions(log)
    assert decided["by"] == "default" and "response deadline" in str(decided["reason"])
    assert [e.kind for e in log.events(dispatch_id=dispatch_id(_event()))] == [
        "approval.requested",
        "approval.expired",
        DECIDED,
    ]
    assert now[0] - T0 >= timedelta(seconds=600)


async def test_within_limits_is_decided_at_once_and_logged(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.db")
    desk = OptInDesk(log, _config(), clock=lambda: T0, flexibility_kw=240, asset="bat1")
    assert await desk(_event(level=1, hours=1)) == "optIn"
    assert _decisions(log)[0]["by"] == "auto"
    assert approvals.pending(log) == []


async def test_a_grant_that_arrives_after_the_response_deadline_does_not_opt_in(
    tmp_path: Path,
) -> None:
    """The book's rule (runtime.approvals.book.approve): expiry is checked before grants
    are counted, so a late grant is refused and never commits the site. The desk polls;
    an operator who approves once the deadline has passed gets the default."""
    log = EventLog(tmp_path / "events.db")
    now = [T0]
    did = dispatch_id(_event())

    async def sleep(_s: float) -> None:
        now[0] = T0 + timedelta(seconds=601)  # the deadline (600 s) has passed ...
        pending = approvals.find_pending(log, did)  # ... and only now does alice approve
        with pytest.raises(approvals.ApprovalError, match="expired at"):
            approvals.approve(log, did, "alice", "late", now[0], plan_hash=pending.plan_hash)

    desk = OptInDesk(
        log, _config(), clock=lambda: now[0], flexibility_kw=240, asset="bat1", sleep=sleep
    )
    assert await desk(_event()) == "optOut"  # the program default, not the late grant
    [decided] = _decisions(log)
    assert decided["by"] == "default" and "response deadline" in str(decided["reason"])
    assert not list(log.events(dispatch_id=did, kinds=(approvals.GRANTED,)))  # nothing recorded


async def test_the_same_event_and_modification_again_keeps_the_earlier_decision(
    tmp_path: Path,
) -> None:
    """After a restart the VEN (openleadr keeps no memory) receives an event it already
    answered: the operator's opt-in stands. Asking again reopened a used request and, with
    nobody answering, sent the program default (opt out) for an event whose intervals the
    DR inbox still honours."""
    db = tmp_path / "events.db"
    log = EventLog(db)
    now = [T0]
    did = dispatch_id(_event())

    async def sleep(_s: float) -> None:
        pending = approvals.find_pending(log, did)
        approvals.approve(log, did, "alice", "ok", now[0], plan_hash=pending.plan_hash)

    desk = OptInDesk(
        log, _config(), clock=lambda: now[0], flexibility_kw=240, asset="bat1", sleep=sleep
    )
    assert await desk(_event()) == "optIn"

    async def nobody(_s: float) -> None:
        now[0] += timedelta(minutes=5)

    restarted = OptInDesk(
        EventLog(db),
        _config(),
        clock=lambda: now[0],
        flexibility_kw=240,
        asset="bat1",
        sleep=nobody,
    )
    assert await restarted(_event()) == "optIn"
    assert [e.kind for e in log.events(dispatch_id=did)].count("approval.requested") == 1
    assert approvals.pending(log) == []

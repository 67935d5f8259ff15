from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runtime.log import events as ev
from runtime.log.dispatch import IllegalTransition, Projections, State, next_state
from runtime.log.eventlog import Event, EventLog

T0 = datetime(2026, 7, 15, 17, 0, tzinfo=UTC)
CMD = ev.CommandBody(
    key="d1",
    asset="bat1",
    kind="active_power_kw",
    value=80.0,
    start=T0,
    end=T0 + timedelta(minutes=15),
    origin="agent",
)


@pytest.mark.parametrize(
    ("path", "final"),
    [
        (["dispatch.proposed", "dispatch.gated", "dispatch.rejected"], State.REJECTED),
        (
            ["dispatch.proposed", "dispatch.gated", "dispatch.simulated", "dispatch.blocked"],
            State.BLOCKED,
        ),
        (
            [
                "dispatch.proposed",
                "dispatch.gated",
                "dispatch.simulated",
                "approval.requested",
                "approval.granted",
                "approval.granted",
                "dispatch.gated",
                "dispatch.approved",
                "dispatch.sent",
                "dispatch.acked",
                "dispatch.verified",
            ],
            State.VERIFIED,
        ),
        (
            [
                "dispatch.proposed",
                "dispatch.gated",
                "dispatch.simulated",
                "approval.requested",
                "approval.expired",
            ],
            State.EXPIRED,
        ),
        (
            [
                "dispatch.proposed",
                "dispatch.gated",
                "dispatch.simulated",
                "approval.auto",
                "dispatch.approved",
                "dispatch.sent",
                "dispatch.failed",
                "dispatch.retried",
                "dispatch.sent",
                "dispatch.failed",
                "dispatch.dead_lettered",
            ],
            State.DEAD_LETTERED,
        ),
        (
            [
                "dispatch.proposed",
                "dispatch.gated",
                "dispatch.simulated",
                "approval.auto",
                "dispatch.approved",
                "dispatch.resumed",
                "dispatch.sent",
                "dispatch.acked",
                "dispatch.verified",
            ],
            State.VERIFIED,
        ),
    ],
)
def test_legal_paths(path: list[str], final: State) -> None:
    state: State | None = None
    for kind in path:
        state = next_state(state, kind)
    assert state is final


@pytest.mark.parametrize(
    ("before", "kind"),
    [
        (None, "dispatch.sent"),  # never sent without a durable record first
        (State.PROPOSED, "dispatch.approved"),  # never approved without the gate
        (State.GATED, "dispatch.verified"),
        (State.VERIFIED, "dispatch.sent"),
        (State.REJECTED, "dispatch.approved"),
        (State.AWAITING_APPROVAL, "dispatch.sent"),
    ],
)
def test_illegal_transitions_are_refused(before: State | None, kind: str) -> None:
    with pytest.raises(IllegalTransition, match=kind.replace(".", r"\.")):
        next_state(before, kind)


def _dispatch(log: EventLog, did: str, value: float, *, upto: str) -> None:
    cmd = CMD.model_copy(update={"key": did, "value": value})
    steps: list[ev.TypedEvent] = [
        ev.DispatchProposed(
            command=cmd,
            policy="p",
            rationale="r",
            snapshot={},
            rollback_kw=0.0,
            last_setpoint_kw=0.0,
        ),
        ev.DispatchGated(outcome="accepted", value=value, constraints=[]),
        ev.DispatchSimulated(
            ok=True,
            summary="",
            violations=[],
            steps=1,
            step_s=300,
            peak_kw_plan=0,
            peak_kw_baseline=0,
            energy_shifted_kwh=0,
        ),
        ev.ApprovalAuto(requirement="auto", reason="small"),
        ev.DispatchApproved(command=cmd, value=value, source="field", rollback_kw=0.0),
        ev.DispatchSent(value=value, source="field", rollback_kw=0.0, attempt=1),
        ev.DispatchAcked(applied_key=did, readback_kw=value),
        ev.DispatchVerified(value=value),
    ]
    for step in steps:
        log.append_event(step, ts=T0, dispatch_id=did)
        if step.kind == upto:
            return


def test_projection_rebuilt_from_events_equals_snapshot_plus_tail(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "e.db")
    _dispatch(log, "a", 50.0, upto="dispatch.verified")
    _dispatch(log, "b", 70.0, upto="dispatch.sent")
    Projections.load(log).save(log)
    _dispatch(log, "c", 90.0, upto="dispatch.approved")
    full = Projections()
    for event in log.events():
        full.apply(event)
    restored = Projections.load(log)
    assert restored.to_json() == {**full.to_json(), "seq": log.head()[0]}
    assert restored.setpoints == {"bat1": 50.0}
    assert [r.dispatch_id for r in restored.in_flight()] == ["b", "c"]
    assert restored.open["b"].state is State.SENT and restored.open["b"].attempts == 1


def test_projection_ignores_an_illegal_event_instead_of_crashing(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "e.db")
    log.append_event(ev.DispatchAcked(applied_key="x", readback_kw=1.0), ts=T0, dispatch_id="x")
    assert Projections.load(log).open == {}


class _AppendedDuringQuery(EventLog):
    """An event log whose every query is followed by another writer's append (the API
    process granting an approval while the conductor starts): real SQLite, two connections."""

    def __init__(self, path: Path, other: EventLog) -> None:
        super().__init__(path)
        self.other = other

    def events(self, **filters: object) -> Iterator[Event]:  # type: ignore[override]
        yield from super().events(**filters)  # type: ignore[arg-type]
        _dispatch(self.other, "late", 30.0, upto="dispatch.proposed")


def test_load_never_skips_an_event_appended_while_it_reads(tmp_path: Path) -> None:
    writer = EventLog(tmp_path / "e.db")
    _dispatch(writer, "a", 50.0, upto="dispatch.verified")
    log = _AppendedDuringQuery(tmp_path / "e.db", writer)
    proj = Projections.load(log)
    for event in EventLog.events(log, after_seq=proj.seq):  # the conductor's next refresh
        proj.apply(event)
    assert "late" in proj.open, "the event appended during the load's query was skipped"

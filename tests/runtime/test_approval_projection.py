"""The incremental approval projection answers exactly what the full fold of the log answers.

Property: after any sequence of approval events (legal or not for the dispatch state
machine, v1 payloads that are upcast on read, events of other kinds in between, appended
in batches by another connection to the same SQLite file), ``ApprovalProjection.pending()``
and ``.metrics(now)`` equal ``approvals.pending(log)`` and ``approvals.metrics(log, now)``;
also for a projection started on an existing log (a restart), and when it reads only the
events appended since its last read.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.approvals import book as approvals
from runtime.approvals.projection import ApprovalProjection
from runtime.log import events as ev
from runtime.log.eventlog import EventLog, Pending

T0 = datetime(2026, 7, 15, 18, 45, tzinfo=UTC)
IDS = ("d0", "d1", "d2", "d3")
USERS = ("alice", "bob", "carol")


def _command(did: str) -> ev.CommandBody:
    return ev.CommandBody(
        key=did,
        asset="bat1",
        kind="active_power_kw",
        value=150.0,
        start=T0,
        end=T0 + timedelta(minutes=15),
        origin="agent",
    )


def _requested(did: str, requirement: str, at: datetime) -> dict[str, Any]:
    plan = [_command(did)]
    return ev.dump(
        ev.ApprovalRequested(
            requirement=requirement,
            expires_at=at + timedelta(minutes=15),
            asset="bat1",
            value=150.0,
            rationale="feeder import above the threshold",
            simulation="no violations",
            commands=plan,
            plan_hash=approvals.plan_hash([c.model_dump(mode="json") for c in plan]),
            proposed_by="policy:peak_shaving",
            escalate_at=at + timedelta(minutes=5),
        )
    )[1]


def _payload(kind: str, did: str, user: str, requirement: str, at: datetime) -> dict[str, Any]:
    """A valid stored payload of ``kind``; ``*.v1`` kinds are the skeleton's version 1."""
    match kind:
        case "approval.requested":
            return _requested(did, requirement, at)
        case "approval.requested.v1":  # before plan binding: no plan, no proposer
            return {
                "v": 1,
                "requirement": requirement,
                "expires_at": (at + timedelta(minutes=15)).isoformat(),
                "asset": "bat1",
                "value": 150.0,
                "rationale": "feeder import above the threshold",
                "simulation": "ok",
            }
        case "approval.granted":
            return ev.dump(ev.ApprovalGranted(user=user, reason="ok", plan_hash=None))[1]
        case "approval.granted.v1":
            return {"v": 1, "user": user, "reason": "ok"}
        case "approval.rejected":
            return ev.dump(ev.ApprovalRejected(user=user, reason="crew on site"))[1]
        case "approval.escalated":
            return ev.dump(ev.ApprovalEscalated(after_s=300, escalate_to=["duty"], reason="r"))[1]
        case "approval.auto":
            return ev.dump(ev.ApprovalAuto(requirement="auto", reason="small"))[1]
        case "dispatch.approved":
            body = ev.DispatchApproved(
                command=_command(did), value=150.0, source="field", rollback_kw=0.0
            )
            return ev.dump(body)[1]
        case "dispatch.sent":
            body_sent = ev.DispatchSent(value=150.0, source="field", rollback_kw=0.0, attempt=1)
            return ev.dump(body_sent)[1]
        case "dispatch.gated":
            return ev.dump(ev.DispatchGated(outcome="accepted", value=150.0, constraints=[]))[1]
        case "telemetry.sample":
            return ev.dump(ev.TelemetrySample(point="substation.p_kw", value=1200.0))[1]
    return {"v": 1, "reason": "r"}  # approval.expired, dispatch.rejected/blocked/...


KINDS = (
    "approval.requested",
    "approval.requested.v1",
    "approval.granted",
    "approval.granted.v1",
    "approval.rejected",
    "approval.expired",
    "approval.escalated",
    "approval.auto",
    "dispatch.approved",
    "dispatch.sent",
    "dispatch.rejected",
    "dispatch.blocked",
    "dispatch.superseded",
    "dispatch.expired",
    "dispatch.gated",  # not an approval kind: skipped by both
    "telemetry.sample",  # no dispatch id
)


@dataclass(frozen=True)
class Step:
    kind: str
    did: str | None
    user: str
    requirement: str
    dt_s: int  # seconds after the previous event (0: same instant)

    def pending(self, at: datetime) -> Pending:
        kind = self.kind.removesuffix(".v1")
        did = None if self.kind == "telemetry.sample" else self.did
        payload = _payload(self.kind, self.did or "none", self.user, self.requirement, at)
        return Pending(kind, payload, at, did)


steps = st.builds(
    Step,
    kind=st.sampled_from(KINDS),
    did=st.sampled_from((*IDS, None)),
    user=st.sampled_from(USERS),
    requirement=st.sampled_from(("auto", "one_operator", "two_operators")),
    dt_s=st.integers(min_value=0, max_value=900),
)
# the sequence in batches: the projection reads after each one
batches = st.lists(st.lists(steps, min_size=0, max_size=8), min_size=1, max_size=8)


def _append(writer: EventLog, batch: list[Step], at: datetime) -> datetime:
    items = []
    for step in batch:
        at += timedelta(seconds=step.dt_s)
        items.append(step.pending(at))
    writer.append_many(items, validate=False)  # stored as given: v1 payloads stay v1
    return at


def _assert_same(projection: ApprovalProjection, log: EventLog, now: datetime) -> None:
    assert projection.pending() == approvals.pending(log)
    assert projection.metrics(now) == approvals.metrics(log, now)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=batches, restart_after=st.integers(min_value=0, max_value=8))
def test_the_projection_equals_the_full_fold_after_any_events_and_a_restart(
    batches: list[list[Step]], restart_after: int
) -> None:
    with tempfile.TemporaryDirectory(prefix="approval-projection-") as tmp:
        path = Path(tmp) / "events.db"
        writer = EventLog(path)  # the conductor's connection
        reader = EventLog(path)  # the API's
        projection = ApprovalProjection(reader)
        at = T0
        for n, batch in enumerate(batches):
            if n == restart_after:  # a restart: a new projection on the log as it stands
                reader.close()
                reader = EventLog(path)
                projection = ApprovalProjection(reader)
            at = _append(writer, batch, at)
            now = at + timedelta(minutes=1)
            _assert_same(projection, reader, now)
            assert projection.seq == writer.head()[0]  # it has read up to the head
        writer.close()
        reader.close()


def test_a_read_folds_only_the_events_appended_since_the_last(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.db")
    projection = ApprovalProjection(log)
    first = [
        Step("approval.requested", "d0", "alice", "two_operators", 0),
        Step("approval.requested.v1", "d1", "alice", "one_operator", 30),
        Step("telemetry.sample", None, "alice", "auto", 1),
    ]
    at = _append(log, first, T0)
    assert projection.refresh() == 2  # the two requests; the telemetry is not read
    assert projection.refresh() == 0  # nothing new: nothing read
    (d0, d1) = projection.pending()
    assert (d0.dispatch_id, d0.plan_hash is not None) == ("d0", True)
    assert (d1.dispatch_id, d1.plan_hash, d1.proposed_by) == ("d1", None, "")  # upcast v1

    at = _append(log, [Step("approval.granted", "d0", "alice", "auto", 60)], at)
    at = _append(log, [Step("approval.granted.v1", "d1", "bob", "auto", 60)], at)
    at = _append(log, [Step("dispatch.approved", "d1", "bob", "auto", 0)], at)
    assert projection.refresh() == 3
    (d0,) = projection.pending()
    assert d0.approvers == ("alice",) and not d0.complete  # two people needed
    figures = projection.metrics(at)
    assert (figures.requested, figures.approved, figures.pending) == (2, 1, 1)
    assert figures.time_to_decision_s == [121.0]  # d1: requested at +30 s, granted at +151 s
    _assert_same(projection, log, at)

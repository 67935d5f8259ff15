"""GET /api/approvals and GET /metrics serve incremental projections of the log (the
approval book, dispatch events by kind): what another process (the conductor) appends
between two requests shows in the next one, as a full read of the log says (v1 requests
included)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runtime.api import ApiContext
from runtime.api.queries import Queries
from runtime.approvals import book as approvals
from runtime.core.clock import FixedClock
from runtime.log.eventlog import EventLog
from tests.api.support import add_users, call, served
from tests.runtime.test_approval_projection import Step

T0 = datetime(2026, 7, 15, 18, 45, tzinfo=UTC)


def _figure(text: str, name: str) -> float:
    m = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert m is not None, f"{name} not in /metrics"
    return float(m.group(1))


def test_the_list_and_metrics_follow_what_the_conductor_appends(tmp_path: Path) -> None:
    conductor = EventLog(tmp_path / "events.db")  # the writer: another connection
    conductor.append_many(
        [
            Step("approval.requested", "d1", "", "one_operator", 0).pending(T0),
            Step("approval.requested.v1", "d2", "", "one_operator", 0).pending(T0),
        ],
        validate=False,
    )
    tokens = add_users(tmp_path / "users.db")
    now = T0 + timedelta(minutes=10)
    ctx = ApiContext(
        events_path=tmp_path / "events.db",
        users_path=tmp_path / "users.db",
        clock=FixedClock(now),
    )

    def listed() -> list[str]:
        reply = call("GET", f"{base}/api/approvals", token=tokens["viewer"])
        assert reply.status == 200, reply.body
        return [item["dispatch_id"] for item in reply.json()]

    def figures() -> str:
        reply = call("GET", f"{base}/metrics", token=tokens["viewer"])
        assert reply.status == 200, reply.body
        return reply.body.decode()

    with served(ctx) as base:
        assert listed() == ["d1", "d2"]
        text = figures()
        assert _figure(text, "gridaios_approvals_pending") == 2
        assert "gridaios_dispatch_events_total{" not in text  # no dispatch events yet

        at = T0 + timedelta(minutes=2)
        conductor.append_many(
            [
                Step("approval.granted", "d1", "alice", "", 0).pending(at),
                Step("dispatch.approved", "d1", "alice", "", 0).pending(at),
                Step("approval.rejected", "d2", "bob", "", 0).pending(at),
                Step("approval.requested", "d3", "", "two_operators", 0).pending(at),
                Step("approval.granted", "d3", "alice", "", 0).pending(at),
                Step("dispatch.sent", "d1", "", "", 0).pending(at),
                Step("dispatch.sent", "d1", "", "", 0).pending(at),
            ],
            validate=False,
        )
        full = [p.dispatch_id for p in approvals.pending(conductor)]
        assert listed() == full == ["d3"]
        text = figures()
        assert _figure(text, "gridaios_approvals_pending") == 1
        assert _figure(text, "gridaios_approvals_time_to_decision_seconds_count") == 2
        assert _figure(text, "gridaios_approvals_time_to_decision_seconds_sum") == 240.0
        assert approvals.metrics(conductor, now).time_to_decision_s == [120.0, 120.0]
        counted = Queries(tmp_path / "events.db").kind_counts("dispatch.")  # the whole log
        assert counted == {"dispatch.approved": 1, "dispatch.sent": 2}
        for scrape in (text, figures()):  # the next scrape counts nothing twice
            for kind, n in counted.items():
                name = rf'gridaios_dispatch_events_total\{{kind="{kind}"\}}'
                assert _figure(scrape, name) == n
    conductor.close()

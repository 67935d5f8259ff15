"""Approvals against a real OPC UA field: used once across a restart, escalation restored."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from runtime.approvals import book as approvals
from runtime.conductor.loop import Conductor
from tests.integration.test_skeleton import kinds, rig, wait_for

pytestmark = pytest.mark.integration


async def test_a_granted_approval_dispatches_once_even_across_a_restart(tmp_path: Path) -> None:
    async with rig(tmp_path, auto_approve_max_kw=50, two_person_min_kw=400) as r:
        await r.conductor.cycle(r.clock())
        (did,) = r.conductor.dispatch_ids
        request = approvals.find_pending(r.events, did)
        approvals.approve(r.events, did, "alice", "checked", r.clock(), plan_hash=request.plan_hash)
        await r.conductor.check_approvals(r.clock())
        await r.conductor.check_approvals(r.clock())  # the next tick finds nothing to do
        assert [(c.key, c.value) for c in r.field.ledger("bat1")] == [(did, 200.0)]
        sent = kinds(r.events, did)
        assert sent.count("dispatch.approved") == 1 and sent[-1] == "dispatch.verified"
        await r.conductor.close()

        # A new process on the same log: nothing of the used approval is waiting again.
        again = Conductor(r.config, r.events, r.clock)
        await again.connect()
        try:
            await again.check_approvals(r.clock())
            r.clock.advance(timedelta(seconds=1))
            await again.check_approvals(r.clock())
        finally:
            await again.close()
        assert [c.key for c in r.field.ledger("bat1")] == [did]
        assert kinds(r.events, did).count("dispatch.approved") == 1
        assert kinds(r.events, did).count("dispatch.sent") == 1
        with pytest.raises(approvals.ApprovalError, match="used once"):
            approvals.approve(r.events, did, "bob", "late", r.clock(), plan_hash=request.plan_hash)


async def test_a_request_restored_after_a_restart_keeps_its_plan_and_escalates_once(
    tmp_path: Path,
) -> None:
    async with rig(
        tmp_path, auto_approve_max_kw=50, two_person_min_kw=400, escalate_after_s=60
    ) as r:
        await r.conductor.cycle(r.clock())
        (did,) = r.conductor.dispatch_ids
        r.clock.advance(timedelta(seconds=61))
        await r.conductor.check_approvals(r.clock())
        assert kinds(r.events, did).count("approval.escalated") == 1
        await r.conductor.close()

        again = Conductor(r.config, r.events, r.clock)
        await again.connect()  # restores the request from the log
        try:
            await wait_for(lambda: again.state.snapshot().get("bat1.soc_pct") is not None, "state")
            await again.check_approvals(r.clock())
            assert kinds(r.events, did).count("approval.escalated") == 1, "escalated once only"
            request = approvals.find_pending(r.events, did)
            approvals.approve(
                r.events, did, "alice", "checked", r.clock(), plan_hash=request.plan_hash
            )
            await again.check_approvals(r.clock())
        finally:
            await again.close()
        # The restored request sends the approved plan's value (the clamp the operator
        # saw), not the larger original proposal.
        assert [(c.key, c.value) for c in r.field.ledger("bat1")] == [(did, 200.0)]

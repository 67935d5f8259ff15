"""Approve and reject through the API, on a log holding a real approval request made by the
conductor (real OPC UA field, real SQLite), and the CLI doing the same over --api."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from runtime.api import ApiContext
from runtime.approvals import book as approvals
from tests.api.support import add_users, call, served
from tests.integration.test_skeleton import Rig, kinds, rig

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@contextmanager
def api_on(r: Rig, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    tokens = add_users(tmp_path / "users.db")
    second = add_users(tmp_path / "users.db", prefix="second-")
    ctx = ApiContext(
        events_path=r.db,
        users_path=tmp_path / "users.db",
        config=r.config,
        state_provider=r.conductor.state.snapshot,
        clock=r.clock,
    )
    with served(ctx) as base:
        yield base, {**tokens, "operator2": second["operator"]}


async def test_one_operator_approves_the_plan_they_saw_and_it_dispatches(tmp_path: Path) -> None:
    async with rig(tmp_path, auto_approve_max_kw=50, two_person_min_kw=400) as r:
        await r.conductor.cycle(r.clock())
        (dispatch_id,) = r.conductor.dispatch_ids
        with api_on(r, tmp_path) as (base, tokens):
            listed = await asyncio.to_thread(
                call, "GET", f"{base}/api/approvals", token=tokens["viewer"]
            )
            assert listed.status == 200
            (item,) = listed.json()
            assert item["dispatch_id"] == dispatch_id and item["requirement"] == "one_operator"
            assert item["asset"] == "bat1" and item["value_kw"] == 200.0 and not item["escalated"]

            detail = await asyncio.to_thread(
                call, "GET", f"{base}/api/approvals/{dispatch_id}", token=tokens["viewer"]
            )
            d = detail.json()
            assert d["status"] == "pending" and d["plan_hash"] == item["plan_hash"]
            assert [c["value_kw"] for c in d["plan"]] == [200.0]
            (verdict,) = d["verdicts"]
            assert verdict["outcome"] == "clamped" and verdict["constraints"], verdict
            assert d["simulation"]["ok"] and d["simulation_summary"]
            assert d["rollback_kw"] == 0.0 and d["do_nothing"]["setpoint_kw"] == 0.0
            assert "the setpoint stays at 0 kW" in d["do_nothing"]["summary"]
            # runtime.approvals.book.detail is the one assembly: the API shows what the CLI shows
            local = approvals.detail(r.events, dispatch_id)
            assert d["explanation"] == local["decision_record"]
            assert dispatch_id in d["explanation"] and "approval requested" in d["explanation"]
            assert "gate: clamped" in d["explanation"] and "plan_hash: " in d["explanation"]
            assert d["do_nothing"]["summary"] == local["do_nothing"]["summary"]
            assert d["proposed_by"] == local["proposed_by"] == "policy:peak_shaving"
            assert [v["seq"] for v in d["verdicts"]] == [v["seq"] for v in local["verdicts"]]
            if d["plot_url"]:  # matplotlib present: the grid report's plot
                png = await asyncio.to_thread(
                    call, "GET", base + d["plot_url"], token=tokens["viewer"]
                )
                assert png.status == 200 and png.body.startswith(b"\x89PNG")

            approve = f"{base}/api/approvals/{dispatch_id}/approve"
            viewer = await asyncio.to_thread(
                call, "POST", approve, token=tokens["viewer"], body={"plan_hash": item["plan_hash"]}
            )
            assert viewer.status == 403
            stale = await asyncio.to_thread(
                call, "POST", approve, token=tokens["operator"], body={"plan_hash": "f" * 64}
            )
            assert stale.status == 409 and "plan" in stale.json()["detail"]
            assert r.field.ledger("bat1") == []

            ok = await asyncio.to_thread(
                call,
                "POST",
                approve,
                token=tokens["operator"],
                body={"plan_hash": item["plan_hash"], "reason": "peak is real"},
            )
            assert ok.status == 200, ok.body
            assert ok.json() == {
                "dispatch_id": dispatch_id,
                "status": "approved",
                "approvers": ["operator"],
                "approvers_needed": 1,
            }
            await r.conductor.check_approvals(r.clock())
            assert [c.key for c in r.field.ledger("bat1")] == [dispatch_id]
            again = await asyncio.to_thread(
                call,
                "POST",
                approve,
                token=tokens["engineer"],
                body={"plan_hash": item["plan_hash"]},
            )
            assert again.status == 409, "a used approval cannot be granted again"
            assert "awaiting approval" in again.json()["detail"]
            granted = [e for e in r.events.events(kinds=("approval.granted",))]
            assert [(e.payload["user"], e.payload["reason"]) for e in granted] == [
                ("operator", "peak is real")
            ]

            metrics = await asyncio.to_thread(
                call, "GET", f"{base}/metrics", token=tokens["viewer"]
            )
            text = metrics.body.decode()
            for name in (
                "gridaios_api_requests_total",
                "gridaios_api_auth_failures_total",
                "gridaios_approvals_time_to_decision_seconds_count 1.0",
                "gridaios_approvals_expired_total 0.0",
                "gridaios_human_intervention_rate 1.0",
                "gridaios_approvals_pending 0.0",
                'gridaios_dispatch_events_total{kind="dispatch.verified"} 1.0',
            ):
                assert name in text, name
            dispatches = await asyncio.to_thread(
                call, "GET", f"{base}/api/dispatches?state=verified", token=tokens["viewer"]
            )
            assert [d["dispatch_id"] for d in dispatches.json()] == [dispatch_id]


async def test_two_person_rule_and_rejection_keep_the_device_untouched(tmp_path: Path) -> None:
    async with rig(tmp_path, auto_approve_max_kw=50, two_person_min_kw=150) as r:
        await r.conductor.cycle(r.clock())
        (dispatch_id,) = r.conductor.dispatch_ids
        with api_on(r, tmp_path) as (base, tokens):
            (item,) = (
                await asyncio.to_thread(
                    call, "GET", f"{base}/api/approvals", token=tokens["viewer"]
                )
            ).json()
            assert item["requirement"] == "two_operators"
            approve = f"{base}/api/approvals/{dispatch_id}/approve"
            body = {"plan_hash": item["plan_hash"], "reason": "ok"}
            first = await asyncio.to_thread(
                call, "POST", approve, token=tokens["operator"], body=body
            )
            assert first.status == 200 and first.json()["status"] == "pending"
            twice = await asyncio.to_thread(
                call, "POST", approve, token=tokens["operator"], body=body
            )
            assert twice.status == 409 and "another operator" in twice.json()["detail"]
            await r.conductor.check_approvals(r.clock())
            assert r.field.ledger("bat1") == [], "one approval is not enough for two_operators"

            reject = f"{base}/api/approvals/{dispatch_id}/reject"
            no_reason = await asyncio.to_thread(
                call, "POST", reject, token=tokens["operator2"], body={"reason": "  "}
            )
            assert no_reason.status == 422
            rejected = await asyncio.to_thread(
                call, "POST", reject, token=tokens["operator2"], body={"reason": "crew on site"}
            )
            assert rejected.status == 200 and rejected.json()["status"] == "rejected"
            await r.conductor.check_approvals(r.clock())
            assert r.field.ledger("bat1") == []
            assert kinds(r.events, dispatch_id)[-1] == "approval.rejected"
            late = await asyncio.to_thread(call, "POST", approve, token=tokens["admin"], body=body)
            assert late.status == 409 and "awaiting approval" in late.json()["detail"]
            never = await asyncio.to_thread(
                call, "POST", f"{base}/api/approvals/nope/approve", token=tokens["admin"], body=body
            )
            assert never.status == 404
            every = await asyncio.to_thread(
                call, "GET", f"{base}/api/dispatches?state=", token=tokens["viewer"]
            )
            assert [d["state"] for d in every.json()] == ["refused"]
            detail = (
                await asyncio.to_thread(
                    call, "GET", f"{base}/api/approvals/{dispatch_id}", token=tokens["viewer"]
                )
            ).json()
            assert detail["status"] == "refused" and detail["approvers"] == ["operator"]


async def test_cli_lists_and_approves_over_the_api(tmp_path: Path) -> None:
    async with rig(tmp_path, auto_approve_max_kw=50, two_person_min_kw=400) as r:
        await r.conductor.cycle(r.clock())
        (dispatch_id,) = r.conductor.dispatch_ids
        with api_on(r, tmp_path) as (base, tokens):

            def cli(
                *args: str, token: str = tokens["operator"]
            ) -> subprocess.CompletedProcess[str]:
                env = {**os.environ, "GRIDAIOS_TOKEN": token}
                return subprocess.run(
                    [sys.executable, "-m", "runtime.cli", "approvals", "--api", base, *args],
                    capture_output=True,
                    text=True,
                    check=False,
                    env=env,
                    # no local log: everything goes through the API
                    cwd=tmp_path,
                )

            listed = await asyncio.to_thread(cli, "list")
            assert listed.returncode == 0, listed.stderr
            assert dispatch_id in listed.stdout and "one_operator" in listed.stdout
            shown = await asyncio.to_thread(cli, "show", dispatch_id)
            assert shown.returncode == 0 and "plan_hash" in shown.stdout
            denied = await asyncio.to_thread(cli, "approve", dispatch_id, token=tokens["viewer"])
            assert denied.returncode == 1 and "403" in denied.stderr
            approved = await asyncio.to_thread(cli, "approve", dispatch_id, "--reason", "cli")
            assert approved.returncode == 0, approved.stderr
            assert f"{dispatch_id}: approved by operator" in approved.stdout
            await r.conductor.check_approvals(r.clock())
            assert [c.key for c in r.field.ledger("bat1")] == [dispatch_id]
            empty = await asyncio.to_thread(cli, "list")
            assert "no dispatches awaiting approval" in empty.stdout

"""``gridaios approvals --api URL``: the same commands through the HTTP API, as the token's user."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any


def run_api(args: argparse.Namespace) -> int:
    from runtime.api.client import ApiClient, ApiError

    try:
        client = ApiClient(args.api, args.token or "")
    except ValueError as err:
        print(f"gridaios approvals: {err}", file=sys.stderr)
        return 2
    if getattr(args, "user", None):
        print(
            f"gridaios approvals: --user {args.user} ignored with --api: "
            "the API records the token's user",
            file=sys.stderr,
        )
    try:
        return _run(args, client)
    except ApiError as err:
        print(f"gridaios approvals: {err}", file=sys.stderr)
        return 2 if err.status == 0 else 1


def _run(args: argparse.Namespace, client: Any) -> int:
    if args.action == "list":
        items = client.pending()
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "id": p["dispatch_id"],
                            "requirement": p["requirement"],
                            "approvers": p["approvers"],
                            "expires_at": p["expires_at"],
                            "asset": p["asset"],
                            "value": p["value_kw"],
                            "rationale": p["rationale"],
                            "plan_hash": p["plan_hash"],
                            "escalated": p["escalated"],
                        }
                        for p in items
                    ]
                )
            )
            return 0
        if not items:
            print("no dispatches awaiting approval")
        for p in items:
            expires = datetime.fromisoformat(p["expires_at"])
            print(
                f"{p['dispatch_id']}  {p['asset']} {p['value_kw']:g} kW  "
                f"needs {p['requirement']} ({len(p['approvers'])} so far)  "
                f"expires {expires:%H:%M:%S}  {p['rationale']}"
                + ("  ESCALATED" if p["escalated"] else "")
            )
        return 0
    if args.action == "show":
        d = client.approval(args.id)
        print(d["explanation"])
        print()
        print(f"plan_hash {d['plan_hash']}")
        print(f"if nobody acts: {d['do_nothing']['summary']}")
        if d["plot_url"]:
            print(f"plot: {args.api.rstrip('/')}{d['plot_url']}")
        print(
            f"status {d['status']}: needs {d['requirement']}; "
            f"approvers so far: {', '.join(d['approvers']) or '-'}"
        )
        return 0
    if args.action == "approve":
        plan_hash = args.plan_hash or client.approval(args.id)["plan_hash"]
        out = client.approve(args.id, args.reason, plan_hash)
        who = client.request("GET", "/api/me")["username"]
        more = (
            f"; waiting for {out['approvers_needed'] - len(set(out['approvers']))} more operator(s)"
            if out["status"] == "pending"
            else ""
        )
        print(f"{args.id}: approved by {who} (plan {plan_hash[:12]}){more}")
        return 0
    out = client.reject(args.id, args.reason)
    who = client.request("GET", "/api/me")["username"]
    print(f"{args.id}: rejected by {who}: {args.reason}")
    return 0

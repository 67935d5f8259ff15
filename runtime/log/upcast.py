"""Upcasting: a stored payload of an old schema version, raised step by step to the newest.

Each step maps (kind, stored version) to the payload one version newer. Stored bytes
never change (the hash chain covers them); readers upcast on read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def _proposed_v1(p: dict[str, Any]) -> dict[str, Any]:
    return {
        **p,
        "v": 2,
        "last_setpoint_kw": p.get("rollback_kw", 0.0),
        "config_sha": None,
        "models": {},
    }


def _started_v1(p: dict[str, Any]) -> dict[str, Any]:
    return {**p, "v": 2, "config": None, "config_sha": None}


def _simulated_v1(p: dict[str, Any]) -> dict[str, Any]:
    return {**p, "v": 2, "twin_state": None, "value": None}


def _sent_v1(p: dict[str, Any]) -> dict[str, Any]:
    return {**p, "v": 2, "attempt": 1}


def _failed_v1(p: dict[str, Any]) -> dict[str, Any]:
    return {**p, "v": 2, "attempt": 1, "retryable": False}


def _requested_v1(p: dict[str, Any]) -> dict[str, Any]:
    # a v1 request bound no plan: it can be approved without a hash (nothing to compare)
    return {
        **p,
        "v": 2,
        "commands": [],
        "plan_hash": None,
        "proposed_by": "",
        "rollback_kw": None,
        "escalate_at": None,
    }


def _granted_v1(p: dict[str, Any]) -> dict[str, Any]:
    return {**p, "v": 2, "plan_hash": None}


def _gated_v1(p: dict[str, Any]) -> dict[str, Any]:
    # v1 conductors called the gate without history or forecast: empty is what it saw.
    return {
        **p,
        "v": 2,
        "history": [],
        "forecast": None,
        "forecast_note": "not recorded (v1): the gate ran without history or forecast",
    }


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("dispatch.proposed", 1): _proposed_v1,
    ("runtime.started", 1): _started_v1,
    ("dispatch.simulated", 1): _simulated_v1,
    ("dispatch.sent", 1): _sent_v1,
    ("dispatch.failed", 1): _failed_v1,
    ("approval.requested", 1): _requested_v1,
    ("approval.granted", 1): _granted_v1,
    ("dispatch.gated", 1): _gated_v1,
}


def upcast_to(kind: str, payload: Mapping[str, Any], current: int | None) -> dict[str, Any]:
    """``payload`` raised to version ``current`` of its kind (no ``v`` means version 1)."""
    body = dict(payload)
    if current is None:
        return body
    version = int(body.get("v", 1))
    while version < current:
        step = UPCASTERS.get((kind, version))
        if step is None:
            body["v"] = version + 1  # no shape change between these versions
        else:
            body = step(body)
        version = int(body["v"])
    body["v"] = version
    return body

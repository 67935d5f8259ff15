"""Roles, and THE table of which role each route needs.

Every route of the app must have an entry here, and every entry must name a route:
``check_routes`` refuses to start an app that differs from the table, so a new
endpoint cannot ship without a decision about who may call it.
"""

from __future__ import annotations

from enum import StrEnum

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount, Route

from runtime.core.errors import GridaiosError


class Role(StrEnum):
    """Each role includes the ones before it."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ENGINEER = "engineer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ENGINEER: 3, Role.ADMIN: 4}

PUBLIC = None  # no credentials needed
VIEWER, OPERATOR, ENGINEER, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ENGINEER, Role.ADMIN

# (method, path template) -> the minimum role, or PUBLIC.
ROUTE_ROLES: dict[tuple[str, str], Role | None] = {
    # liveness for integrators, the login itself, and the spec
    ("GET", "/api/health"): PUBLIC,
    ("POST", "/api/login"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    # any logged-in user
    ("POST", "/api/logout"): VIEWER,
    ("GET", "/api/me"): VIEWER,
    ("POST", "/api/tokens"): VIEWER,
    ("GET", "/api/state"): VIEWER,
    ("GET", "/api/state/history"): VIEWER,
    ("GET", "/api/forecasts"): VIEWER,
    ("GET", "/api/proposals"): VIEWER,
    ("GET", "/api/approvals"): VIEWER,
    ("GET", "/api/approvals/{dispatch_id}"): VIEWER,
    ("GET", "/api/approvals/{dispatch_id}/plot.png"): VIEWER,
    ("GET", "/api/dispatches"): VIEWER,
    ("GET", "/api/dispatches/{dispatch_id}"): VIEWER,
    ("POST", "/api/ask"): VIEWER,  # understands and previews; proposes and sends nothing
    ("POST", "/api/ask/propose"): OPERATOR,  # queues a confirmed read-back, as the caller
    ("GET", "/api/events"): VIEWER,
    ("GET", "/api/dr/events/{event_id}/report"): VIEWER,
    ("GET", "/metrics"): VIEWER,
    ("GET", "/api/alarms"): VIEWER,
    ("GET", "/api/network"): VIEWER,
    ("GET", "/api/log"): VIEWER,
    ("GET", "/api/handover"): VIEWER,
    # operators sign off
    ("POST", "/api/approvals/{dispatch_id}/approve"): OPERATOR,
    ("POST", "/api/approvals/{dispatch_id}/reject"): OPERATOR,
    # operators handle alarms and keep the shift log
    ("POST", "/api/alarms/{key}/ack"): OPERATOR,
    ("POST", "/api/alarms/{key}/shelve"): OPERATOR,
    ("POST", "/api/log"): OPERATOR,
    # operators pass on a utility's demand-response event
    ("POST", "/api/dr/events"): OPERATOR,
    # engineers: integrity, dead letters, shadow runs
    ("GET", "/api/audit/verify"): ENGINEER,
    ("GET", "/api/deadletters"): ENGINEER,
    ("POST", "/api/deadletters/{dletter_id}/retry"): ENGINEER,
    ("GET", "/api/shadow/reports"): ENGINEER,
    ("GET", "/api/shadow/reports/{name}"): ENGINEER,
    # admins manage people
    ("GET", "/api/users"): ADMIN,
    ("POST", "/api/users"): ADMIN,
}


class RolesTableError(GridaiosError):
    """The app's routes and ROUTE_ROLES differ: add the route to the table (or remove it)."""


def _flat(app: FastAPI) -> list[tuple[BaseRoute, str, set[str]]]:
    """(route, full path, methods) of every route, through included routers."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazy included routers: app.routes is flat
        return [
            (r, getattr(r, "path", ""), set(getattr(r, "methods", None) or ())) for r in app.routes
        ]
    return [
        (rc.original_route, rc.path or "", set(rc.methods or ()))
        for rc in iter_route_contexts(app.routes)
    ]


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves (HEAD is implied by GET)."""
    out: set[tuple[str, str]] = set()
    for route, path, methods in _flat(app):
        if isinstance(route, Mount):
            continue  # the static console shell: no data, no auth
        if isinstance(route, Route):
            out |= {(m, path) for m in methods if m != "HEAD"}
    return out


def check_routes(app: FastAPI) -> None:
    served = app_routes(app)
    missing = sorted(served - ROUTE_ROLES.keys())
    stale = sorted(ROUTE_ROLES.keys() - served)
    # Only API routes pass through the role check; any other route must be public.
    unguarded = sorted(
        (m, path)
        for r, path, methods in _flat(app)
        if isinstance(r, Route) and not isinstance(r, APIRoute)
        for m in methods
        if m != "HEAD" and ROUTE_ROLES.get((m, path)) is not PUBLIC
    )
    if missing or stale or unguarded:
        parts = []
        if unguarded:
            parts.append(f"routes outside the role check that are not PUBLIC: {unguarded}")
        if missing:
            parts.append(f"routes without a role in ROUTE_ROLES: {missing}")
        if stale:
            parts.append(f"ROUTE_ROLES entries for routes that do not exist: {stale}")
        raise RolesTableError(
            "runtime/api/roles.py: " + "; ".join(parts) + " (every route needs exactly one entry)"
        )


def needed(method: str, path: str) -> Role | None:
    """The role a route needs. Unknown routes never reach here (``check_routes``)."""
    return ROUTE_ROLES[(method if method != "HEAD" else "GET", path)]

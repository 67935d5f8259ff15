"""The one check every API route passes: who is calling, and may their role call this route.

Installed as an app-wide dependency; the role comes from ``roles.ROUTE_ROLES`` by the
matched route's template, so no endpoint declares (or forgets) its own check.
"""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from runtime.api import roles
from runtime.api.auth import Principal
from runtime.api.context import Resources, resources

COOKIE = "gridaios_session"

bearer = HTTPBearer(auto_error=False, description="a session token (POST /api/login) or API token")
cookie = APIKeyCookie(name=COOKIE, auto_error=False, description="set by POST /api/login")


def authorize(
    request: Request,
    res: Resources = Depends(resources),  # noqa: B008
    creds: HTTPAuthorizationCredentials | None = Security(bearer),  # noqa: B008
    session: str | None = Security(cookie),
) -> Principal | None:
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    need = roles.needed(request.method, path)
    if need is roles.PUBLIC:
        return None
    token = creds.credentials if creds is not None else session
    if not token:
        raise HTTPException(
            401,
            "not logged in: POST /api/login, or send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = res.users.authenticate(token, res.ctx.auth_clock())
    if principal is None:
        request.app.state.metrics.auth_failure("bad_token")
        raise HTTPException(
            401,
            "token unknown or expired: log in again (or ask an admin for a new API token)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not principal.role.allows(need):
        raise HTTPException(
            403,
            f"{request.method} {path} needs role {need.value} or above; "
            f"{principal.username} is {principal.role.value}",
        )
    request.state.principal = principal
    return principal


def principal(request: Request, _: Principal | None = Depends(authorize)) -> Principal:  # noqa: B008
    """The caller of a non-public route (``authorize`` has already run and passed)."""
    p: Principal = request.state.principal
    return p

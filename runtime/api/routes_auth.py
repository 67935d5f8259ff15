"""Login, logout, who am I, API tokens, and user management (admins)."""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from runtime.api.auth import AuthError, Failed, Locked, LoggedIn, Principal, UserExists
from runtime.api.context import Resources, resources
from runtime.api.guard import COOKIE, principal
from runtime.api.schemas import (
    LoginRequest,
    LoginResponse,
    Me,
    NewUser,
    Status,
    TokenResponse,
    UserOut,
)
from runtime.log import events as ev

router = APIRouter(
    prefix="/api", tags=["auth"], responses={400: {"description": "body is not JSON"}}
)
R = Depends(resources)
P = Depends(principal)


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


@router.post(
    "/login",
    response_model=LoginResponse,
    responses={
        401: {"description": "wrong username or password"},
        423: {"description": "locked"},
        429: {"description": "too many failed logins from this client; see Retry-After"},
    },
)
def login(
    body: LoginRequest, request: Request, response: Response, res: Resources = R
) -> LoginResponse:
    ctx = res.ctx
    client, now = _client(request), ctx.auth_clock()
    until = res.throttle.blocked_until(client, now)
    if until is not None:
        request.app.state.metrics.auth_failure("throttled")
        res.log.append_event(
            ev.AuthFailed(
                username=body.username, reason="too many failed logins from client", client=client
            ),
            ts=ctx.clock(),
        )
        wait_s = max(1, math.ceil((until - now).total_seconds()))
        raise HTTPException(
            429,
            f"{res.throttle.max_failures} failed logins from {client or 'this client'} within "
            f"{res.throttle.window.total_seconds() / 60:g} min; try again in {wait_s} s",
            headers={"Retry-After": str(wait_s)},
        )
    outcome = res.users.login(body.username, body.password, now)
    if not isinstance(outcome, LoggedIn):
        res.throttle.failed(client, now)
    match outcome:
        case LoggedIn(user=user):
            issued = res.users.issue(user.username, "session", ctx.auth_clock(), ctx.session_ttl)
            res.log.append_event(
                ev.AuthLogin(username=user.username, role=user.role.value, client=_client(request)),
                ts=ctx.clock(),
            )
            assert issued.expires_at is not None
            response.set_cookie(
                COOKIE,
                issued.token,
                max_age=int(ctx.session_ttl.total_seconds()),
                httponly=True,
                samesite="strict",
                secure=ctx.secure_cookie,
                path="/",
            )
            return LoginResponse(token=issued.token, role=user.role, expires_at=issued.expires_at)
        case Failed() as failed:
            request.app.state.metrics.auth_failure("login")
            res.log.append_event(
                ev.AuthFailed(
                    username=failed.username, reason=failed.reason, client=_client(request)
                ),
                ts=ctx.clock(),
            )
            if failed.locked_until is not None:
                res.log.append_event(
                    ev.AuthLocked(
                        username=failed.username,
                        failures=failed.failures,
                        until=failed.locked_until,
                    ),
                    ts=ctx.clock(),
                )
            raise HTTPException(401, "wrong username or password")
        case Locked(until=until):
            request.app.state.metrics.auth_failure("locked")
            res.log.append_event(
                ev.AuthFailed(
                    username=body.username, reason="account locked", client=_client(request)
                ),
                ts=ctx.clock(),
            )
            raise HTTPException(
                423,
                f"{body.username} is locked until {until:%Y-%m-%d %H:%M:%S} UTC after "
                f"{res.users.max_failures} failed logins; an admin can run "
                f"`gridaios users unlock {body.username}`",
            )


@router.post("/logout", response_model=Status)
def logout(response: Response, who: Principal = P, res: Resources = R) -> Status:
    """Ends the session used for this request (API tokens are not affected)."""
    if who.kind == "session":
        res.users.revoke(who.digest)
    response.delete_cookie(COOKIE, path="/")
    return Status(status="logged out" if who.kind == "session" else "api token kept")


@router.get("/me", response_model=Me)
def me(who: Principal = P) -> Me:
    return Me(username=who.username, role=who.role)


@router.post("/tokens", response_model=TokenResponse, status_code=201)
def new_token(who: Principal = P, res: Resources = R) -> TokenResponse:
    """A new API token for the caller (shown once)."""
    issued = res.users.issue(who.username, "api", res.ctx.auth_clock(), None)
    res.log.append_event(
        ev.AuthTokenCreated(username=who.username, by=who.username, token_id=issued.token_id),
        ts=res.ctx.clock(),
    )
    return TokenResponse(token=issued.token, username=who.username, expires_at=issued.expires_at)


@router.get("/users", response_model=list[UserOut])
def list_users(res: Resources = R) -> list[UserOut]:
    return [
        UserOut(
            username=u.username,
            role=u.role,
            created=u.created,
            locked_until=u.locked_until,
            failures=u.failures,
        )
        for u in res.users.list()
    ]


@router.post(
    "/users",
    response_model=UserOut,
    status_code=201,
    responses={409: {"description": "username taken"}, 422: {"description": "bad name"}},
)
def add_user(body: NewUser, who: Principal = P, res: Resources = R) -> UserOut:
    try:
        user = res.users.add(body.username, body.password, body.role, res.ctx.auth_clock())
    except UserExists as err:
        raise HTTPException(409, str(err)) from err
    except AuthError as err:
        raise HTTPException(422, str(err)) from err
    res.log.append_event(
        ev.AuthUserAdded(username=user.username, role=user.role.value, by=who.username),
        ts=res.ctx.clock(),
    )
    return UserOut(
        username=user.username, role=user.role, created=user.created, locked_until=None, failures=0
    )

"""``create_app(ctx)``: the FastAPI app, every route behind the role table."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from runtime.api import (
    roles,
    routes_alarms,
    routes_approvals,
    routes_audit,
    routes_auth,
    routes_dispatch,
    routes_dr,
    routes_network,
    routes_state,
    routes_words,
)
from runtime.api.context import ApiContext, Resources
from runtime.api.guard import authorize
from runtime.api.hardening import add_shield
from runtime.api.metrics import ApiMetrics, RequestCounter
from runtime.core.errors import GridaiosError, NotFound

VERSION = "1"


def create_app(ctx: ApiContext) -> FastAPI:
    """The API over ``ctx``'s stores. The caller owns the app: ``close_app`` when done."""
    app = FastAPI(
        title="gridaios",
        version=VERSION,
        description="Operator console API: state, approvals, dispatches, audit. "
        "Log in with POST /api/login; send the token as 'Authorization: Bearer <token>' "
        "(or the session cookie).",
        dependencies=[Depends(authorize)],
        docs_url=None,  # the docs pages load scripts from a CDN; the spec is /openapi.json
        redoc_url=None,
    )
    res = Resources(ctx)
    app.state.resources = res
    app.state.metrics = ApiMetrics(res.approvals, res.queries, ctx.clock)
    for module in (
        routes_auth,
        routes_state,
        routes_approvals,
        routes_dispatch,
        routes_dr,
        routes_audit,
        routes_alarms,
        routes_network,
        routes_words,
    ):
        app.include_router(module.router)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, err: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=404)

    @app.exception_handler(GridaiosError)
    async def _refused(_: Request, err: GridaiosError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=409)

    roles.check_routes(app)  # refuses to start with a route the table does not cover
    if ctx.static_dir.is_dir():
        app.mount("/", StaticFiles(directory=ctx.static_dir, html=True), name="console")
    add_shield(app, res)  # origin, auth before reading, body cap, security headers
    app.add_middleware(RequestCounter, metrics=app.state.metrics)
    return app


def close_app(app: FastAPI) -> None:
    res: Resources = app.state.resources
    res.close()

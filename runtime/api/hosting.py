"""The API next to a running conductor: live state from it, its clock, its stores."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI

from runtime.api.app import create_app
from runtime.api.context import ApiContext
from runtime.api.routes_state import forecast_file
from runtime.api.server import Listen, serve_api
from runtime.conductor.loop import Conductor


def conductor_app(
    conductor: Conductor,
    listen: Listen,
    *,
    users_path: Path | None = None,
    dlq_path: Path | None = None,
    history_dir: Path | None = None,
    forecast_path: Path | None = None,
) -> FastAPI:
    db = conductor.events.path
    return create_app(
        ApiContext(
            events_path=db,
            users_path=users_path or db.with_name("users.db"),
            config=conductor.config,
            state_provider=conductor.state.snapshot,
            forecast_provider=(lambda: forecast_file(forecast_path)) if forecast_path else None,
            dr_submit=lambda raw, via: conductor.agents.submit_dr(raw, via=via),
            dlq_path=dlq_path,
            history_dir=history_dir,
            shadow_dir=db.with_name("shadow"),
            network=conductor.grid.network if conductor.grid is not None else None,
            clock=conductor.clock,
            secure_cookie=listen.tls_cert is not None,
        )
    )


def api_service(app: FastAPI, listen: Listen) -> Callable[[Callable[[], None]], Awaitable[None]]:
    """A ``FunctionService`` body: serve until cancelled, ready once listening."""

    async def run(ready: Callable[[], None]) -> None:
        await serve_api(app, listen, ready=lambda _url: ready())

    return run

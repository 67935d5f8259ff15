"""The HTTP API and console server (FastAPI + uvicorn), in the runtime's own process."""

from runtime.api.app import close_app, create_app
from runtime.api.context import ApiContext
from runtime.api.roles import ROUTE_ROLES, Role
from runtime.api.server import Listen, parse_listen, serve_api

__all__ = [
    "ROUTE_ROLES",
    "ApiContext",
    "Listen",
    "Role",
    "close_app",
    "create_app",
    "parse_listen",
    "serve_api",
]

"""What the API serves from: paths, the site config, live providers and clocks.

``ApiContext`` is plain data given to ``create_app``; ``Resources`` are the open
stores (event log, users, dead letters) the app owns while it lives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import Request

from runtime.api.auth import UserStore
from runtime.api.queries import Queries
from runtime.api.schemas import ForecastSeries
from runtime.api.throttle import LoginThrottle
from runtime.approvals.projection import ApprovalProjection
from runtime.config import site
from runtime.config.model import SiteConfig
from runtime.core.clock import Clock, WallClock
from runtime.log.deadletter import DeadLetterStore
from runtime.log.eventlog import EventLog
from safety import StateSnapshot

STATIC_DIR = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiContext:
    events_path: Path
    users_path: Path
    config: SiteConfig | None = None
    # the conductor's latest-value state; None when the API runs without a conductor
    state_provider: Callable[[], StateSnapshot] | None = None
    forecast_provider: Callable[[], list[ForecastSeries]] | None = None
    # the conductor's DR inbox, ``submit(raw, via)``; None when the API runs without one
    dr_submit: Callable[[bytes, str], None] | None = None
    dlq_path: Path | None = None
    shadow_dir: Path | None = None
    # the feeder's network model (simulator.Network) for the single-line diagram, when known
    network: Any | None = None
    history_dir: Path | None = None
    # the runtime's clock: event timestamps and approval decisions (simulated time in the demo)
    clock: Clock = field(default_factory=WallClock)
    # sessions and lockout always run on wall time, whatever the runtime's clock
    auth_clock: Clock = field(default_factory=WallClock)
    session_ttl: timedelta = timedelta(hours=12)
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    # failed logins per client address (any username) before it is refused for a while
    client_max_failures: int = 20
    client_window: timedelta = timedelta(minutes=15)
    secure_cookie: bool = False  # set when served over TLS
    static_dir: Path = STATIC_DIR


class Resources:
    """The stores an app keeps open; ``close()`` when the app is done."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.log = EventLog(ctx.events_path)
        # what the console and /metrics poll, folded from new events only (not per request)
        self.approvals = ApprovalProjection(self.log)
        self.queries = Queries(ctx.events_path)
        self.users = UserStore(ctx.users_path, max_failures=ctx.max_failures, lockout=ctx.lockout)
        self.throttle = LoginThrottle(ctx.client_max_failures, ctx.client_window)
        self._dlq: DeadLetterStore | None = None
        # one approval decision at a time: read-check-append stays atomic in this process
        self.decisions = threading.Lock()
        self.units: dict[str, str] = {}
        if ctx.config is not None:
            for asset in ctx.config.assets:
                for role, point in asset.points.items():
                    self.units[site.point_id(asset.id, role)] = point.unit

    def dlq(self) -> DeadLetterStore | None:
        """The dead-letter store, when one exists (never created by reading it)."""
        path = self.ctx.dlq_path
        if self._dlq is None and path is not None and path.exists():
            self._dlq = DeadLetterStore(path)
        return self._dlq

    def close(self) -> None:
        self.log.close()
        self.queries.close()
        self.users.close()
        if self._dlq is not None:
            self._dlq.close()


def resources(request: Request) -> Resources:
    res: Resources = request.app.state.resources
    return res

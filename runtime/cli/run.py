"""``gridaios run --config SITE.yaml [--db PATH]``: the long-running conductor for a site.

``gridaios run --role controller --config CONTROLLER.yaml``: the global controller
(runtime.hierarchy) that shares a feeder cap among the sites' conductors.

Supervised (restart with back-off, limit), drains on SIGTERM/SIGINT, resumes
in-flight commands after a crash, records health changes in the event log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from runtime.cli.serve import add_api_options, api_listen
from runtime.conductor.loop import Conductor
from runtime.config.model import SiteConfig, load_config, load_controller_config
from runtime.core.clock import WallClock
from runtime.core.errors import ConfigError
from runtime.ingest.historian import Historian
from runtime.ingest.sourcewatch import site_health
from runtime.log import events as ev
from runtime.log.deadletter import DeadLetterStore
from runtime.log.eventlog import EventLog
from runtime.service.housekeeping import housekeeping_service
from runtime.service.supervise import (
    FunctionService,
    Service,
    ServiceFailed,
    ServiceHealth,
    Supervisor,
)

log = logging.getLogger(__name__)
DEFAULT_DB = Path("var/gridaios/events.db")


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run the conductor against a site's sources until stopped")
    p.add_argument("--config", required=True, type=Path, help="site (or controller) config YAML")
    p.add_argument(
        "--role",
        choices=("conductor", "controller"),
        default="conductor",
        help="conductor: one site (default); controller: the feeder cap across sites",
    )
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help="event log (SQLite)")
    p.add_argument(
        "--dlq", type=Path, default=None, help="dead-letter store (default: next to --db)"
    )
    p.add_argument("--auto-approve", action="store_true", help="approve every request (tests only)")
    p.add_argument(
        "--history", type=Path, default=None, help="historian directory (default: next to --db)"
    )
    p.add_argument(
        "--keep-telemetry-days",
        type=float,
        default=30.0,
        help="retention: telemetry payloads older than this are compacted (default 30)",
    )
    p.add_argument(
        "--health-file", type=Path, default=None, help="write /healthz-style JSON here on change"
    )
    add_api_options(p, default_api=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.role == "controller":
        return run_controller(args)
    try:
        config = load_config(args.config)
        listen = api_listen(args)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"gridaios run: {err}", file=sys.stderr)
        return 2
    dlq_path = args.dlq or args.db.with_name("deadletters.db")
    try:
        asyncio.run(
            serve(
                config,
                args.db,
                dlq_path,
                args.auto_approve,
                args.health_file,
                args.history or args.db.with_name("history"),
                args.keep_telemetry_days,
                api=(listen, args.users, _forecast_path(args.config, config))
                if listen is not None
                else None,
            )
        )
    except ServiceFailed as err:
        print(f"gridaios run: {err}", file=sys.stderr)
        return 1
    except ConfigError as err:  # found while starting (e.g. a password_env not set)
        print(err, file=sys.stderr)
        return 2
    return 0


def _forecast_path(config_path: Path, config: SiteConfig) -> Path | None:
    """Where ``gridaios forecast run`` writes this site's forecasts (the API serves them)."""
    return config_path.parent / config.forecast.output if config.forecast is not None else None


async def serve(
    config: SiteConfig,
    db: Path,
    dlq_path: Path,
    auto_approve: bool,
    health_file: Path | None = None,
    history: Path | None = None,
    keep_telemetry_days: float = 30.0,
    api: tuple[Any, Path | None, Path | None] | None = None,
) -> None:
    clock = WallClock()
    events = EventLog(db)
    dlq = DeadLetterStore(dlq_path)
    historian = Historian(history) if history is not None else None
    conductor = Conductor(
        config, events, clock, auto_approve=auto_approve, dlq=dlq, historian=historian
    )

    async def conduct(ready: Callable[[], None]) -> None:
        link = conductor.link
        try:
            if link is not None:
                link.start()  # never blocks: the site runs on its own config until heard
            await conductor.connect()
            ready()
            if link is None:
                await conductor.run()
                return
            watch = asyncio.create_task(
                link.watch(conductor.state.snapshot), name="hierarchy-watch"
            )
            try:
                await conductor.run()
            finally:
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)
        finally:
            await conductor.close()
            if link is not None:
                await link.close()

    supervisor: Supervisor | None = None

    def on_change(name: str, health: ServiceHealth) -> None:
        events.append_event(
            ev.HealthChanged(service=name, state=health.state.value, reason=health.last_error),
            ts=clock(),
        )
        write_health()

    def write_health() -> None:
        if health_file is not None and supervisor is not None:
            tmp = health_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(site_health(supervisor.health(), conductor.sources)))
            tmp.replace(health_file)  # readers never see a half-written file

    conductor.sources.on_change.append(write_health)  # never "ok" while a source is down

    housekeeping = housekeeping_service(
        events, historian, dlq, clock, keep_telemetry=timedelta(days=keep_telemetry_days)
    )
    services: list[Service] = [
        FunctionService("conductor", conduct),
        FunctionService("housekeeping", housekeeping),
    ]
    app = None
    if api is not None:  # the HTTP API in this loop, on the conductor's live state
        from runtime.api import close_app
        from runtime.api.hosting import api_service, conductor_app

        listen, users, forecasts = api
        app = conductor_app(
            conductor,
            listen,
            users_path=users,
            dlq_path=dlq_path,
            history_dir=history,
            forecast_path=forecasts,
        )
        services.append(FunctionService("api", api_service(app, listen)))
    supervisor = Supervisor(services, on_change=on_change)
    loop = asyncio.get_running_loop()

    def drain() -> None:
        # Let the conductor finish the dispatch under way; stop everything once it has,
        # or after the drain deadline (an unfinished command stays in the outbox).
        conductor.request_stop()
        loop.call_later(supervisor.drain_s, supervisor.stop)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, drain)
    try:
        await supervisor.run()
    finally:
        events.append_event(ev.RuntimeStopped(reason="signal: drained"), ts=clock())
        if app is not None:
            close_app(app)
        events.close()
        dlq.close()


def run_controller(args: argparse.Namespace) -> int:
    from runtime.hierarchy.controller import Controller

    try:
        config = load_controller_config(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2

    async def serve_controller() -> None:
        clock = WallClock()
        events = EventLog(args.db)
        try:
            controller = Controller(config.hierarchy, events, clock)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, controller.request_stop)

            async def control(ready: Callable[[], None]) -> None:
                ready()
                await controller.run()  # returns once asked to stop: no restart

            await Supervisor([FunctionService("controller", control)]).run()
        finally:
            events.close()

    try:
        asyncio.run(serve_controller())
    except ServiceFailed as err:
        print(f"gridaios run --role controller: {err}", file=sys.stderr)
        return 1
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    return 0

"""``gridaios serve --config X --db EVENTS.db``: the API and console over a log, no conductor.

For reviewing a log (audit, dispatches, decisions) away from the edge box; live
state is the historian's latest values. Approvals recorded here are picked up by
a conductor running on the same log.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

DEFAULT_DB = Path("var/gridaios/events.db")


def add_api_options(p: argparse.ArgumentParser, *, default_api: str | None) -> None:
    """``--api``, ``--users``, ``--tls-cert``, ``--tls-key`` (shared by run, demo and serve)."""
    p.add_argument(
        "--api",
        default=default_api,
        metavar="HOST:PORT",
        help="serve the HTTP API and console here (port 0: any free port)"
        + (f" (default {default_api})" if default_api else ""),
    )
    p.add_argument(
        "--users", type=Path, default=None, help="users store (default: users.db next to --db)"
    )
    p.add_argument("--tls-cert", type=Path, default=None, help="serve HTTPS with this PEM cert")
    p.add_argument("--tls-key", type=Path, default=None, help="the PEM private key for --tls-cert")


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve the HTTP API and console over an event log")
    p.add_argument("--config", type=Path, default=None, help="site config (units, forecasts)")
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"event log (default {DEFAULT_DB})")
    p.add_argument("--dlq", type=Path, default=None, help="dead letters (default: next to --db)")
    p.add_argument(
        "--history", type=Path, default=None, help="historian directory (default: next to --db)"
    )
    p.add_argument(
        "--shadow-dir", type=Path, default=None, help="shadow reports (default: next to --db)"
    )
    add_api_options(p, default_api="127.0.0.1:8080")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from runtime.api import ApiContext, close_app, create_app, parse_listen, serve_api
    from runtime.api.routes_state import forecast_file
    from runtime.config.model import load_config
    from runtime.core.errors import ConfigError

    try:
        listen = parse_listen(args.api, args.tls_cert, args.tls_key)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    if not args.db.exists():
        print(f"--db {args.db}: no event log there; pass the runtime's --db", file=sys.stderr)
        return 2
    config = None
    forecasts = None
    if args.config is not None:
        try:
            config = load_config(args.config)
        except ConfigError as err:
            print(err, file=sys.stderr)
            return 2
        if config.forecast is not None:
            path = args.config.parent / config.forecast.output
            forecasts = lambda: forecast_file(path)  # noqa: E731
    ctx = ApiContext(
        events_path=args.db,
        users_path=args.users or args.db.with_name("users.db"),
        config=config,
        forecast_provider=forecasts,
        dlq_path=args.dlq or args.db.with_name("deadletters.db"),
        history_dir=args.history or args.db.with_name("history"),
        shadow_dir=args.shadow_dir or args.db.with_name("shadow"),
        secure_cookie=listen.tls_cert is not None,
    )
    app = create_app(ctx)

    async def main() -> None:
        task = asyncio.create_task(serve_api(app, listen))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise

    try:
        asyncio.run(main())
    finally:
        close_app(app)
    return 0


def api_listen(args: argparse.Namespace) -> Any:
    """The parsed ``--api`` options, or None without ``--api``; ValueError names the fix."""
    if getattr(args, "api", None) is None:
        for flag in ("users", "tls_cert", "tls_key"):
            if getattr(args, flag, None) is not None:
                raise ValueError(f"--{flag.replace('_', '-')} needs --api HOST:PORT")
        return None
    from runtime.api import parse_listen

    return parse_listen(args.api, args.tls_cert, args.tls_key)

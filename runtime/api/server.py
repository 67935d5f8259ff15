"""Run the app with uvicorn inside the caller's asyncio loop (next to the conductor).

uvicorn's own signal handling is switched off: the runtime owns SIGTERM/SIGINT
(it drains the conductor first) and stops the server by cancelling its task.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the runtime handles signals


@dataclass(frozen=True, slots=True)
class Listen:
    host: str
    port: int
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


def parse_listen(text: str, tls_cert: Path | None = None, tls_key: Path | None = None) -> Listen:
    """``HOST:PORT`` (port 0 picks a free one); raises ValueError naming the fix."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--api {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080 (port 0: any)")
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together: give both PEM files or neither")
    for name, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not path.is_file():
            raise ValueError(f"{name} {path}: no such file")
    return Listen(host, int(port), tls_cert, tls_key)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP: asyncio sets TCP_NODELAY only on such sockets; without it a
    # keep-alive client waits ~40 ms per response (Nagle against delayed ACKs)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


async def serve_api(
    app: FastAPI,
    listen: Listen,
    *,
    ready: Callable[[str], None] | None = None,
    announce: bool = True,
) -> None:
    """Serve until cancelled. Prints ``api listening on URL`` (the real port) when ready."""
    sock = _bind(listen.host, listen.port)
    port = int(sock.getsockname()[1])
    host = f"[{listen.host}]" if ":" in listen.host else listen.host
    url = f"{listen.scheme}://{host}:{port}"
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ssl_certfile=str(listen.tls_cert) if listen.tls_cert else None,
        ssl_keyfile=str(listen.tls_key) if listen.tls_key else None,
        timeout_graceful_shutdown=2,
        # X-Forwarded-For/-Proto are trusted only from the proxies named in
        # GRIDAIOS_TRUSTED_PROXIES (comma-separated addresses); by default from nobody
        proxy_headers=bool(os.environ.get("GRIDAIOS_TRUSTED_PROXIES")),
        forwarded_allow_ips=os.environ.get("GRIDAIOS_TRUSTED_PROXIES") or "",
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                await task  # raises why it could not start
                raise RuntimeError(f"api server on {url} stopped before it was ready")
            await asyncio.sleep(0.01)
        if announce:
            print(f"api listening on {url}", file=sys.stderr, flush=True)
            users = app.state.resources.users
            if not users.list():
                print(
                    f"no users in {users.path} yet: gridaios users add NAME --role operator "
                    f"--users {users.path}",
                    file=sys.stderr,
                    flush=True,
                )
        if ready is not None:
            ready(url)
        await asyncio.shield(task)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()

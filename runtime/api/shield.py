"""The API's outer wall: an ASGI middleware every request passes before any route runs.

The API shares the conductor's asyncio loop, so an anonymous client must not be able to
make it read, buffer or parse much. In order, for every HTTP request:

1. **Origin** (state-changing methods: POST, PUT, PATCH, DELETE): an ``Origin`` header
   other than this server's own origin, or ``Sec-Fetch-Site: cross-site``, is refused
   (403): a page elsewhere cannot ride the operator's session cookie.
2. **Authenticate before reading**: a state-changing request to anything but
   ``/api/login`` needs a valid session or API token (401 otherwise) *before one byte
   of its body is read*.
3. **Cap the body**: ``Content-Length`` above the cap is refused at once (413); a body
   without a length (chunked) is read up to the cap and refused when it goes past it.
   The cap is ``MAX_BODY`` (``MAX_LOGIN_BODY`` for the login). A body must be JSON
   (``Content-Type: application/json``; 415 otherwise). The whole body must arrive
   within ``BODY_TIMEOUT_S`` of the headers (408 otherwise): a client trickling a
   body cannot hold a connection, and its file descriptor, in the conductor's process.
4. **Security headers** on every response: ``Content-Security-Policy``,
   ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``,
   ``Referrer-Policy: no-referrer``, ``Cache-Control: no-store`` on ``/api`` and
   ``/metrics``, and ``Strict-Transport-Security`` when served over TLS.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 1 << 20  # 1 MiB: the largest body any route takes is a few kB
MAX_LOGIN_BODY = 16 << 10
BODY_TIMEOUT_S = 10.0  # the whole body, once the headers are in: no slow trickles
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_WRITES = frozenset({"/api/login"})
COOKIE = "gridaios_session"

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
REPORT_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")


class Shield:
    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticated: Callable[[str], bool],
        max_body: int = MAX_BODY,
        max_login_body: int = MAX_LOGIN_BODY,
        body_timeout_s: float = BODY_TIMEOUT_S,
    ) -> None:
        self.app = app
        self.authenticated = authenticated  # token -> is it a live session or API token
        self.max_body = max_body
        self.max_login_body = max_login_body
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(scope, send)
        method = str(scope["method"]).upper()
        if method not in STATE_CHANGING:
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        path = str(scope["path"])
        refusal = self._origin(scope, headers)
        if refusal is None and path not in PUBLIC_WRITES and not self._has_credentials(headers):
            refusal = (
                401,
                "not logged in: POST /api/login, or send 'Authorization: Bearer <token>' "
                "(checked before the body is read)",
            )
        cap = self.max_login_body if path in PUBLIC_WRITES else self.max_body
        length = headers.get("content-length")
        if refusal is None and length is not None:
            if not length.isdigit():
                refusal = (400, f"Content-Length {length[:20]!r} is not a number")
            elif int(length) > cap:
                refusal = (413, f"body of {int(length)} bytes: this endpoint takes at most {cap}")
        if refusal is None and (length not in (None, "0") or "transfer-encoding" in headers):
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if media != "application/json":
                refusal = (415, f"Content-Type {media or '(none)'!r}: send application/json")
        if refusal is not None:
            await _refuse(send, *refusal)
            return
        try:
            async with asyncio.timeout(self.body_timeout_s):
                body, over = await _read_capped(receive, cap)
        except TimeoutError:
            await _refuse(send, 408, f"body not received within {self.body_timeout_s:g} s: refused")
            return
        if over:
            await _refuse(send, 413, f"body larger than {cap} bytes: refused")
            return
        await self.app(scope, _replay(body, receive), send)

    def _origin(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        origin = headers.get("origin")
        if origin is not None:
            own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
            if origin.rstrip("/").lower() != own.lower():
                return (403, f"cross-origin request from {origin[:80]!r} refused (this is {own})")
        elif headers.get("sec-fetch-site") == "cross-site":
            return (403, "cross-site request refused")
        return None

    def _has_credentials(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return self.authenticated(auth[7:].strip())
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and value:
                return self.authenticated(value)
        return False


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope.get("headers", []):
        out[k.decode("latin-1").lower()] = v.decode("latin-1")
    return out


def _with_headers(scope: Scope, send: Send) -> Send:
    path = str(scope.get("path", ""))
    tls = scope.get("scheme") == "https"

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            raw: list[tuple[bytes, bytes]] = list(message.get("headers", []))
            names = {k.lower() for k, _ in raw}
            extra = [
                (
                    b"content-security-policy",
                    (REPORT_CSP if path.startswith("/api/shadow/reports/") else CSP).encode(),
                ),
                (b"x-frame-options", b"DENY"),
                (b"x-content-type-options", b"nosniff"),
                (b"referrer-policy", b"no-referrer"),
            ]
            if path.startswith("/api") or path == "/metrics":
                extra.append((b"cache-control", b"no-store"))
            if tls:
                extra.append((b"strict-transport-security", b"max-age=31536000"))
            raw.extend((k, v) for k, v in extra if k not in names)
            message = {**message, "headers": raw}
        await send(message)

    return wrapped


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *([(b"www-authenticate", b"Bearer")] if status == 401 else []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_capped(receive: Receive, cap: int) -> tuple[bytes, bool]:
    """The body, read up to ``cap`` bytes; (partial, True) as soon as it goes past."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect when the client goes

    return replay


__all__: list[Any] = ["BODY_TIMEOUT_S", "MAX_BODY", "MAX_LOGIN_BODY", "Shield"]

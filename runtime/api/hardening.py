"""Wiring the API's hardening into the app: the shield, safe error bodies, login summaries.

- ``add_shield``: ``runtime.api.shield.Shield`` with the users store as its token check.
- A request body that does not validate is a 422 whose ``detail`` names each field and
  rule, never echoing the input (a NaN or a lone surrogate in it cannot be encoded, which
  used to end in a 500).
- ``ThrottleLog``: attempts refused by the per-client login throttle are counted in
  memory and written as one ``auth.failed`` summary per client per ``every`` (the first
  refusal at once, then how many more), not one durable event each: a flood of refused
  logins costs no fsync per request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from runtime.api.shield import STATE_CHANGING, Shield

_SHIELD_RESPONSES: dict[int | str, str] = {
    401: "not logged in (checked before the body is read)",
    403: "cross-origin request refused",
    413: "body larger than the cap",
    415: "body is not application/json",
}

if TYPE_CHECKING:
    from runtime.api.context import Resources


def add_shield(app: FastAPI, res: Resources) -> None:
    def authenticated(token: str) -> bool:
        if not token or len(token) > 512:
            return False
        return res.users.authenticate(token, res.ctx.auth_clock()) is not None

    app.add_middleware(Shield, authenticated=authenticated)
    app.state.throttle_log = ThrottleLog()
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:  # the shield's refusals are in each write's contract
        spec = plain_openapi()
        for ops in spec.get("paths", {}).values():
            for method, op in ops.items():
                if method.upper() in STATE_CHANGING:
                    for status, text in _SHIELD_RESPONSES.items():
                        op.setdefault("responses", {}).setdefault(
                            str(status), {"description": text}
                        )
        return spec

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        detail = [
            {
                "loc": [str(part) for part in e.get("loc", ())],
                "msg": str(e.get("msg", "invalid")),
                "type": str(e.get("type", "")),
            }
            for e in err.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)


@dataclass(slots=True)
class ThrottleLog:
    """Refused logins per client, summarised: (first refusal at, refusals not yet written)."""

    every: timedelta = timedelta(minutes=1)
    max_clients: int = 10_000
    _pending: dict[str, tuple[datetime, int]] = field(default_factory=dict)

    def refused(self, client: str, now: datetime) -> int | None:
        """Count one refusal; the number to write now (a summary), or None (counted only)."""
        since, count = self._pending.get(client, (now - self.every, 0))
        count += 1
        if now - since >= self.every:
            self._pending[client] = (now, 0)
            if len(self._pending) > self.max_clients:
                self._pending.pop(next(iter(self._pending)))
            return count
        self._pending[client] = (since, count)
        return None

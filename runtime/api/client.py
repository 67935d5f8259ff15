"""A small JSON client for the API (stdlib urllib): what ``gridaios approvals --api`` uses."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from runtime.core.errors import GridaiosError


class ApiError(GridaiosError):
    """The API refused the request (``status`` and the server's ``detail``)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class ApiClient:
    def __init__(
        self, base_url: str, token: str, *, timeout_s: float = 30.0, cafile: str | None = None
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"--api {base_url!r}: give a URL, e.g. http://127.0.0.1:8080")
        if not token:
            raise ValueError(
                "no API token: pass --token or set GRIDAIOS_TOKEN (gridaios users token NAME)"
            )
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self._ssl = ssl.create_default_context(cafile=cafile) if cafile else None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                **({"Content-Type": "application/json"} if data is not None else {}),
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s, context=self._ssl) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                detail = json.loads(raw).get("detail", raw.decode(errors="replace"))
            except (ValueError, AttributeError):
                detail = raw.decode(errors="replace")
            raise ApiError(
                err.code, detail if isinstance(detail, str) else json.dumps(detail)
            ) from err
        except urllib.error.URLError as err:
            raise ApiError(0, f"cannot reach {self.base_url}: {err.reason}") from err

    # --- approvals ------------------------------------------------------------

    def pending(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.request("GET", "/api/approvals")
        return items

    def approval(self, dispatch_id: str) -> dict[str, Any]:
        detail: dict[str, Any] = self.request(
            "GET", f"/api/approvals/{quote(dispatch_id, safe='')}"
        )
        return detail

    def approve(self, dispatch_id: str, reason: str, plan_hash: str) -> dict[str, Any]:
        out: dict[str, Any] = self.request(
            "POST",
            f"/api/approvals/{quote(dispatch_id, safe='')}/approve",
            {"reason": reason, "plan_hash": plan_hash},
        )
        return out

    def reject(self, dispatch_id: str, reason: str) -> dict[str, Any]:
        out: dict[str, Any] = self.request(
            "POST", f"/api/approvals/{quote(dispatch_id, safe='')}/reject", {"reason": reason}
        )
        return out

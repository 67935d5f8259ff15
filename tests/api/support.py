"""A real uvicorn server on 127.0.0.1 (its own thread and loop), and a plain HTTP caller."""

from __future__ import annotations

import asyncio
import json
import queue
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from runtime.api import ApiContext, Listen, close_app, create_app, serve_api
from runtime.api.auth import UserStore

ROLES = ("viewer", "operator", "engineer", "admin")
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: Any = None,
    cookie: str | None = None,
    cafile: str | None = None,
) -> Reply:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if cookie:
        headers["Cookie"] = cookie
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    try:
        with urllib.request.urlopen(req, timeout=60, context=context) as resp:
            return Reply(resp.status, resp.read(), dict(resp.headers.items()))
    except urllib.error.HTTPError as err:
        return Reply(err.code, err.read(), dict(err.headers.items()))


@contextmanager
def served(ctx: ApiContext | FastAPI, listen: Listen | None = None) -> Iterator[str]:
    """``create_app(ctx)`` (or an app already made, e.g. ``conductor_app``) behind a real
    uvicorn server in a thread; yields its base URL."""
    app = ctx if isinstance(ctx, FastAPI) else create_app(ctx)
    loop = asyncio.new_event_loop()
    urls: queue.Queue[str | BaseException] = queue.Queue()
    task_box: list[asyncio.Task[None]] = []

    def main() -> None:
        asyncio.set_event_loop(loop)
        task = loop.create_task(
            serve_api(app, listen or Listen("127.0.0.1", 0), ready=urls.put, announce=False)
        )
        task_box.append(task)
        try:
            loop.run_until_complete(task)
        except asyncio.CancelledError:
            return  # stopped by the test: the normal end
        except BaseException as err:  # surfaces in the test thread
            urls.put(err)
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="api-server", daemon=True)
    thread.start()
    got = urls.get(timeout=60)
    if isinstance(got, BaseException):
        raise got
    try:
        yield got
    finally:
        loop.call_soon_threadsafe(task_box[0].cancel)
        thread.join(timeout=30)
        close_app(app)
        assert not thread.is_alive(), "the API server did not stop"


def add_users(users_db: Path, *, prefix: str = "") -> dict[str, str]:
    """One user per role (named after it) and an API token each; returns role -> token."""
    store = UserStore(users_db)
    now = datetime.now(UTC)
    tokens = {}
    try:
        for role in ROLES:
            store.add(f"{prefix}{role}", PASSWORD, role, now)
            tokens[role] = store.issue(f"{prefix}{role}", "api", now, None).token
    finally:
        store.close()
    return tokens

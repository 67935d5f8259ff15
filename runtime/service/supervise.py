"""Supervision: every long-running service has an owner that restarts it with back-off.

A ``Service`` implements ``async run(ready)`` and calls ``ready()`` once it serves.
The ``Supervisor`` runs them in one ``asyncio.TaskGroup``: a service that fails is
restarted after an exponential back-off, up to ``max_restarts`` in a row (a run
that stayed up longer than ``stable_after`` resets the count); past the limit the
supervisor stops everything and reports the service as failed. ``stop()`` drains:
services get ``drain_s`` to finish (they see ``CancelledError``) before exit.
``health()`` is the ``/healthz``-style state.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from runtime.core.errors import GridaiosError
from runtime.service.jobs import RetryPolicy

log = logging.getLogger(__name__)


class ServiceState(StrEnum):
    STARTING = "starting"
    READY = "ready"
    BACKING_OFF = "backing_off"
    FAILED = "failed"
    STOPPED = "stopped"


class Service(Protocol):
    name: str

    async def run(self, ready: Callable[[], None]) -> None: ...


class ServiceFailed(GridaiosError):
    """A service failed more times in a row than its restart limit allows."""


@dataclass(slots=True)
class ServiceHealth:
    name: str
    state: ServiceState = ServiceState.STARTING
    restarts: int = 0
    last_error: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "restarts": self.restarts,
            "last_error": self.last_error,
        }


@dataclass(slots=True)
class FunctionService:
    """A service from a coroutine function ``fn(ready)``."""

    name: str
    fn: Callable[[Callable[[], None]], Awaitable[None]]

    async def run(self, ready: Callable[[], None]) -> None:
        await self.fn(ready)


@dataclass(slots=True)
class Supervisor:
    services: list[Service]
    max_restarts: int = 5
    backoff: RetryPolicy = field(default_factory=lambda: RetryPolicy(base_s=0.5, max_s=30.0))
    stable_after_s: float = 60.0
    drain_s: float = 10.0
    on_change: Callable[[str, ServiceHealth], None] | None = None
    rng: random.Random = field(default_factory=random.Random)
    _health: dict[str, ServiceHealth] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    failed: str | None = None

    def health(self) -> dict[str, Any]:
        states = [h.state for h in self._health.values()]
        ok = bool(states) and all(s is ServiceState.READY for s in states)
        return {
            "status": "ok" if ok else ("failed" if self.failed else "degraded"),
            "services": {n: h.as_json() for n, h in self._health.items()},
        }

    def ready(self) -> bool:
        return bool(self.health()["status"] == "ok")

    def stop(self) -> None:
        """Begin a graceful drain (safe to call from a signal handler)."""
        self._stop.set()

    async def run(self) -> None:
        """Run until ``stop()`` or a service exceeds its restart limit."""
        for s in self.services:
            self._health[s.name] = ServiceHealth(s.name)
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(self._keep(s), name=s.name) for s in self.services]
                stopper = tg.create_task(self._stop.wait())
                _done, _ = await asyncio.wait(
                    [*tasks, stopper], return_when=asyncio.FIRST_COMPLETED
                )
                await self._drain([*tasks, stopper])
        finally:
            for h in self._health.values():
                if h.state is not ServiceState.FAILED:
                    self._set(h, ServiceState.STOPPED)
        if self.failed is not None:
            raise ServiceFailed(
                f"service {self.failed} failed {self.max_restarts + 1} times in a row: "
                f"{self._health[self.failed].last_error}"
            )

    async def _drain(self, tasks: list[asyncio.Task[Any]]) -> None:
        pending = [t for t in tasks if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending, timeout=self.drain_s)

    async def _keep(self, service: Service) -> None:
        health = self._health[service.name]
        loop = asyncio.get_running_loop()
        in_a_row = 0
        while True:
            self._set(health, ServiceState.STARTING)
            started = loop.time()
            try:
                await service.run(lambda: self._set(health, ServiceState.READY))
                log.info("service %s finished", service.name)
                return
            except asyncio.CancelledError:
                raise
            except Exception as err:  # the supervisor owns every service failure
                health.last_error = f"{type(err).__name__}: {err}"
                if loop.time() - started >= self.stable_after_s:
                    in_a_row = 0
                in_a_row += 1
                if in_a_row > self.max_restarts:
                    self.failed = service.name
                    self._set(health, ServiceState.FAILED)
                    log.error("service %s gave up: %s", service.name, health.last_error)
                    self._stop.set()
                    return
                delay = self.backoff.delay_s(in_a_row, self.rng)
                health.restarts += 1
                self._set(health, ServiceState.BACKING_OFF)
                log.warning(
                    "service %s failed (%s); restart %d/%d in %.1f s",
                    service.name,
                    health.last_error,
                    in_a_row,
                    self.max_restarts,
                    delay,
                )
                await asyncio.sleep(delay)

    def _set(self, health: ServiceHealth, state: ServiceState) -> None:
        if health.state is state:
            return
        health.state = state
        if self.on_change is not None:
            self.on_change(health.name, health)

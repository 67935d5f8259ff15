"""Partial start and degraded running, per source and per asset.

A site starts with the sources it has: a source that cannot be reached at start is kept
(its writes fail as not connected, so the outbox retries and its circuit opens) and
connected again in the background with back-off; a source lost while running reconnects
by itself (each client supervises its own session). Every change of a source's state is
an alarm: a log line, a ``health.changed`` event for ``source:<id>`` in the event log, and
the health file, which says ``degraded`` and names the sources down and the assets
behind them while any source is down. The assets behind a dead source are unavailable:
their readings are no longer confirmed by a live link, so they age out and the gate
rejects every command on them (fail safe), while assets on healthy sources keep running.

Only auth failures and unknown nodes are worth a human's attention at start, but they are
retried too: the site must not stop because one device's certificate expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from connectors import ConnectionState, ConnectorError

log = logging.getLogger(__name__)

UP = ConnectionState.CONNECTED


class Connectable(Protocol):
    state: ConnectionState

    async def connect(self) -> None: ...


def assets_by_source(points: Mapping[str, Mapping[str, str]]) -> dict[str, list[str]]:
    """``{asset: {role: source}}`` -> ``{source: [assets with any point on it]}``."""
    out: dict[str, list[str]] = {}
    for asset, roles in points.items():
        for source in sorted(set(roles.values())):
            out.setdefault(source, []).append(asset)
    return out


def health(
    states: Mapping[str, ConnectionState],
    behind: Mapping[str, list[str]],
    errors: Mapping[str, str],
) -> dict[str, Any]:
    """The sources' part of the health file: ok only while every source is connected."""
    down = sorted(s for s, state in states.items() if state is not UP)
    unavailable = sorted({a for s in down for a in behind.get(s, [])})
    return {
        "status": "ok" if not down else "degraded",
        "sources": {
            s: {"state": state.value, **({"error": errors[s]} if s in errors else {})}
            for s, state in states.items()
        },
        "sources_down": down,
        "assets_unavailable": unavailable,
    }


class SourceWatch:
    """Connects every source at start without giving up on any; alarms on every change."""

    def __init__(
        self,
        behind: Mapping[str, list[str]],
        alarm: Callable[[str, str, str], None],
        *,
        retry_min_s: float = 0.5,
        retry_max_s: float = 30.0,
        poll_s: float = 0.25,
    ) -> None:
        self._behind = dict(behind)
        self._alarm = alarm  # (source, state, reason)
        self._retry_min_s = retry_min_s
        self._retry_max_s = retry_max_s
        self._poll_s = poll_s
        self.clients: dict[str, Connectable] = {}
        self.errors: dict[str, str] = {}
        self._said: dict[str, ConnectionState] = {}
        self._device_said: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.on_change: list[Callable[[], None]] = []

    async def start(self, clients: Mapping[str, Connectable]) -> None:
        """Try every source once (all at once); keep connecting the failed ones."""
        self.clients = dict(clients)
        results = await asyncio.gather(
            *(self._first(sid, c) for sid, c in self.clients.items()), return_exceptions=True
        )
        for (sid, client), ok in zip(self.clients.items(), results, strict=True):
            if ok is not True:
                self._tasks.append(
                    asyncio.create_task(self._keep_trying(sid, client), name=f"source-{sid}")
                )
        self._tasks.append(asyncio.create_task(self._watch(), name="source-watch"))

    async def start_sinks(self, sinks: Mapping[str, Any]) -> None:
        """Command sinks (their own MQTT sessions): connected now or in the background;
        until then a command to them fails as not connected and the outbox retries."""
        for sid, sink in sinks.items():
            try:
                await sink.connect()
            except ConnectorError as err:
                log.error("command sink %s is down at start (%s); retrying", sid, err)
                self._tasks.append(
                    asyncio.create_task(self._keep_trying(f"sink:{sid}", sink), name=f"sink-{sid}")
                )

    async def _first(self, sid: str, client: Connectable) -> bool:
        try:
            await client.connect()
        except ConnectorError as err:
            self.errors[sid] = str(err)
            log.error(
                "source %s is down at start (%s); assets %s unavailable; retrying in the "
                "background",
                sid,
                err,
                ", ".join(self._behind.get(sid, [])) or "(none)",
            )
            return False
        return True

    async def _keep_trying(self, sid: str, client: Connectable) -> None:
        delay = self._retry_min_s
        while True:
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter
            try:
                await client.connect()
            except ConnectorError as err:
                self.errors[sid] = str(err)
                delay = min(delay * 2, self._retry_max_s)
                continue
            self.errors.pop(sid, None)
            log.warning("source %s connected after a failed start", sid)
            return

    async def _watch(self) -> None:
        while True:
            self.check()
            await asyncio.sleep(self._poll_s)

    def check(self) -> None:
        """Alarm on every state change since the last check (connected or not)."""
        changed = False
        for sid, client in self.clients.items():
            state = client.state
            up = state is UP
            before = self._said.get(sid)
            if before is not None and (before is UP) == up:
                continue
            if before is None and up:
                self._said[sid] = state
                changed = True
                continue
            self._said[sid] = state
            changed = True
            assets = ", ".join(self._behind.get(sid, [])) or "(none)"
            if up:
                self._alarm(sid, "ok", f"source {sid} connected; assets {assets} available")
            else:
                reason = self.errors.get(sid, "") or f"link {state.value}"
                self._alarm(
                    sid, "down", f"source {sid} down ({reason}); assets {assets} unavailable"
                )
        changed = self._check_devices() or changed
        if changed:
            for hook in self.on_change:
                hook()

    def _check_devices(self) -> bool:
        """Sparkplug B: an edge node or device that dies behind a live broker is an alarm
        too (its points went bad on the death certificate)."""
        changed = False
        for sid, client in self.clients.items():
            states: Mapping[str, str] = getattr(client, "device_states", {})
            for device, state in list(states.items()):
                key = f"{sid}/{device}"
                if self._device_said.get(key) == state:
                    continue
                first = key not in self._device_said
                self._device_said[key] = state
                if first and state == "online":
                    continue
                changed = True
                if state == "online":
                    self._alarm(key, "ok", f"device {device} on source {sid} is born again")
                else:
                    self._alarm(
                        key,
                        "down",
                        f"device {device} on source {sid} is dead ({state}); its points are bad",
                    )
        return changed

    def health(self) -> dict[str, Any]:
        states = {sid: c.state for sid, c in self.clients.items()}
        out = health(states, self._behind, self.errors)
        dead = sorted(k for k, state in self._device_said.items() if state != "online")
        out["devices_down"] = dead  # Sparkplug edge nodes and devices behind a live broker
        if dead:
            out["status"] = "degraded"
        return out

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []


def site_health(services: dict[str, Any], sources: SourceWatch) -> dict[str, Any]:
    """The supervisor's health with the sources': ``ok`` only when both are."""
    mine = sources.health()
    status = services.get("status", "degraded")
    if status == "ok" and mine["status"] != "ok":
        status = "degraded"
    return {**services, **{k: v for k, v in mine.items() if k != "status"}, "status": status}

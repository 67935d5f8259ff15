"""The conductor's connections to the field: one client per source, the command sinks.

Samples go to ``on_sample`` (the latest-value state, the historian); ``write`` puts an
approved command on its device: a curtailment through its source, a battery setpoint
through its command sink (MQTT JSON wire) or its source's write with an idempotency key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from connectors import Sample, WriteResult
from connectors.mqtt import MqttSourceConfig
from connectors.opcua import OpcUaSourceConfig
from runtime.conductor.sinks import (
    DeviceTimeSource,
    MqttCommandSink,
    SinkResult,
    TimeBase,
    command_sinks,
    held_setpoints,
)
from runtime.config import site
from runtime.config.model import SiteConfig
from runtime.core.clock import Clock
from runtime.ingest.sources import SourceClient, make_client
from runtime.ingest.sourcewatch import SourceWatch, assets_by_source
from runtime.ingest.state import LatestState
from runtime.log import events as ev
from runtime.log.deadletter import DeadLetterStore
from runtime.log.eventlog import EventLog
from safety import ApprovedCommand, CommandKind

log = logging.getLogger("runtime.conductor.loop")


def source_alarm(events: EventLog, clock: Clock) -> Callable[[str, str, str], None]:
    """A source's state change as an alarm: a log line and a ``health.changed`` event."""

    def alarm(source: str, state: str, reason: str) -> None:
        (log.info if state == "ok" else log.error)("%s", reason)
        events.append_event(
            ev.HealthChanged(service=f"source:{source}", state=state, reason=reason), ts=clock()
        )

    return alarm


def _no_alarm(source: str, state: str, reason: str) -> None:
    """Until the conductor sets ``sources.on_alarm``."""


class FieldLink:
    def __init__(
        self,
        config: SiteConfig,
        clock: Clock,
        state: LatestState,
        on_sample: Callable[[Sample], None],
        *,
        dlq: DeadLetterStore | None = None,
        device_time: Mapping[str, TimeBase] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.state = state
        self.on_sample = on_sample
        self.dlq = dlq
        self.clients: dict[str, SourceClient] = {}
        # Setpoints on an MQTT (JSON) source go through a command sink (cmd, ack, read-back).
        self.sinks: dict[str, MqttCommandSink] = {}
        # Sources whose devices keep the wall clock while the conductor runs on a
        # simulated one (the demo's bridge): their times are translated.
        self.device_time = dict(device_time or {})
        # Partial start: the site runs with the sources it has; the watch retries the
        # others in the background and alarms (runtime.ingest.sourcewatch).
        self.sources = SourceWatch(
            assets_by_source(
                {a.id: {r: p.source for r, p in a.points.items()} for a in config.assets}
            ),
            _no_alarm,
        )

    async def connect(self) -> None:
        self.clients = {s.id: self._make_client(s) for s in self.config.sources}
        self.sinks = command_sinks(self.config, self.state.get, self.clock, self.device_time)
        await self.sources.start(self.clients)
        await self.sources.start_sinks(self.sinks)

    def _make_client(self, source: OpcUaSourceConfig | MqttSourceConfig) -> SourceClient:
        dead_letters = self.dlq.put if self.dlq is not None else None
        points = site.bindings(self.config, source.id)
        timebase = self.device_time.get(source.id)
        if timebase is not None and isinstance(source, MqttSourceConfig):
            return DeviceTimeSource(
                source, points, self.on_sample, timebase, dead_letters=dead_letters
            )
        return make_client(source, points, self.on_sample, self.clock, dead_letters=dead_letters)

    async def close(self) -> None:
        await self.sources.stop()
        for sink in self.sinks.values():
            await sink.close()  # kept: their counts outlive the session
        for client in self.clients.values():
            await client.close()
        self.clients.clear()

    def held(self, dispatched: Mapping[str, float]) -> dict[str, float]:
        """The setpoints each asset runs: a bridge that failed safe holds its default,
        whatever was dispatched last."""
        return held_setpoints(dispatched, self.sinks, self.state.get)

    async def write(self, approved: ApprovedCommand, source: str) -> WriteResult | SinkResult:
        if approved.command.kind is CommandKind.CURTAIL_PCT:  # keyless: read-back confirms
            target = site.curtail_target(self.config, approved.asset)
            return await self.clients[source].write(approved, target)
        sink = self.sinks.get(source)
        if sink is not None:
            return await sink.write(approved)
        battery = self.config.battery(approved.asset)
        return await self.clients[source].write(approved, site.write_target(battery))

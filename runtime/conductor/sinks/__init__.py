"""Command sinks chosen by the site config, and the device-time view of a source.

A battery whose ``points.p_setpoint_kw.source`` is an MQTT source in the JSON wire
format gets its commands through ``MqttCommandSink`` (cmd, ack, read-back from
telemetry); every other setpoint goes through its source client's ``write``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from connectors import (
    ConnectionState,
    DeadLetterSink,
    PointBinding,
    Sample,
    WriteFailed,
    WriteResult,
    WriteTarget,
)
from connectors.mqtt import MqttClient, MqttSourceConfig
from runtime.conductor.sinks.mqtt import (
    CommandExpired,
    CommandPoints,
    CommandRefused,
    MqttCommandSink,
    Readings,
    SinkResult,
)
from runtime.conductor.sinks.timebase import SameTime, ScaledTimeBase, TimeBase
from runtime.config.model import READBACK_POINT, BatteryAsset, SiteConfig
from safety import ApprovedCommand

__all__ = [
    "READBACK_ROLE",
    "SAFE_MODE_ROLE",
    "CommandExpired",
    "CommandPoints",
    "CommandRefused",
    "DeviceTimeSource",
    "MqttCommandSink",
    "SameTime",
    "ScaledTimeBase",
    "SinkResult",
    "TimeBase",
    "command_sinks",
    "held_setpoints",
    "mqtt_command_source",
]

READBACK_ROLE = READBACK_POINT  # the setpoint register as the device reports it
SAFE_MODE_ROLE = "safe_mode"  # 1 while the device holds its safe default


def mqtt_command_source(config: SiteConfig, battery: BatteryAsset) -> MqttSourceConfig | None:
    """The JSON-wire MQTT source that takes this battery's setpoint, if it is one."""
    source = config.source(battery.points["p_setpoint_kw"].source)
    if isinstance(source, MqttSourceConfig) and source.format == "json":
        return source
    return None


def command_sinks(
    config: SiteConfig,
    readings: Readings,
    clock: Callable[[], datetime],
    device_time: Mapping[str, TimeBase] | None = None,
) -> dict[str, MqttCommandSink]:
    """One sink per MQTT (JSON) source that carries a battery setpoint."""
    by_source: dict[str, dict[str, CommandPoints]] = {}
    for asset in config.assets:
        if not isinstance(asset, BatteryAsset):
            continue
        source = mqtt_command_source(config, asset)
        if source is None:
            continue
        setpoint = asset.points["p_setpoint_kw"].node
        safe = asset.points.get(SAFE_MODE_ROLE)
        by_source.setdefault(source.id, {})[asset.id] = CommandPoints(
            device=setpoint.partition(".")[0],
            command_point=setpoint,
            readback_point=f"{asset.id}.{READBACK_ROLE}",
            safe_mode_point=f"{asset.id}.{SAFE_MODE_ROLE}" if safe is not None else None,
        )
    times = device_time or {}
    return {
        sid: MqttCommandSink(
            _mqtt(config, sid), points, readings, clock, timebase=times.get(sid, SameTime())
        )
        for sid, points in by_source.items()
    }


def held_setpoints(
    recorded: Mapping[str, float], sinks: Mapping[str, MqttCommandSink], readings: Readings
) -> dict[str, float]:
    """The setpoints the runtime can count on: what it last dispatched, except for a
    device that reports its safe-default mode (a bridge in fail-safe after the runtime
    went away): that one holds what its read-back says, not the last dispatch."""
    held = dict(recorded)
    for sink in sinks.values():
        for asset, points in sink.points.items():
            if points.safe_mode_point is None:
                continue
            safe = readings(points.safe_mode_point)
            readback = readings(points.readback_point)
            if safe is not None and safe.value == 1.0 and readback is not None:
                held[asset] = readback.value
    return held


def _mqtt(config: SiteConfig, source_id: str) -> MqttSourceConfig:
    source = config.source(source_id)
    assert isinstance(source, MqttSourceConfig)
    return source


class DeviceTimeSource:
    """An MQTT source whose devices keep the wall clock while the runtime runs on a
    simulated one (the demo's bridge): the connector works in device time (freshness,
    heartbeat stamps), and samples reach the runtime re-stamped in runtime time."""

    def __init__(
        self,
        source: MqttSourceConfig,
        points: Sequence[PointBinding],
        on_sample: Callable[[Sample], None],
        timebase: TimeBase,
        *,
        dead_letters: DeadLetterSink | None = None,
    ) -> None:
        self._on_sample = on_sample
        self.timebase = timebase
        self.inner = MqttClient(
            source, points, self._restamp, timebase.device_now, dead_letters=dead_letters
        )

    @property
    def state(self) -> ConnectionState:
        return self.inner.state

    @state.setter
    def state(self, value: ConnectionState) -> None:
        self.inner.state = value

    def _restamp(self, sample: Sample) -> None:
        to = self.timebase.to_runtime
        self._on_sample(
            replace(sample, source_ts=to(sample.source_ts), received_ts=to(sample.received_ts))
        )

    async def connect(self) -> None:
        await self.inner.connect()

    async def write(
        self, approved: ApprovedCommand, target: WriteTarget, *, readback_timeout_s: float = 5.0
    ) -> WriteResult:
        raise WriteFailed(
            f"MQTT source {self.inner.config.id}: setpoints on a device-time source go "
            "through the MQTT command sink (JSON wire format), not the connector"
        )

    async def close(self) -> None:
        await self.inner.close()

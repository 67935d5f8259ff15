"""The virtual field over MQTT: every device publishes and takes commands in the
gridaios JSON wire format v1, next to the OPC UA server.

Per device, one paho client (so each device has its own retained status and
last will): telemetry batches on ``gridaios/v1/<site>/<device>/telemetry`` with
a per-device ``seq``, commands on ``.../cmd`` answered on ``.../ack`` with
``applied | duplicate | rejected | expired``. Commands take the same comms link
as OPC UA writes, so a ``comms_loss`` swallows them (no ack). A malformed
command is counted, kept raw in ``dead_letters``, answered ``rejected`` with the
reason when its key can be read, and never reaches a device. Topics and payloads are
``gridaios_wire.jsonv1``'s, the one definition every side uses (docs/wire-format.md).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from gridaios_wire import jsonv1 as wire
from paho.mqtt.enums import CallbackAPIVersion

from simulator.field import VirtualField
from simulator.scenario import EventKind, ScenarioEvent

log = logging.getLogger(__name__)

UNITS = {"p_kw": "kW", "soc_pct": "%", "curtail_pct": "%", "p_setpoint_kw": "kW", "v_pu": "pu"}
WRITABLE = {"p_setpoint_kw", "curtail_pct"}
# Writable points that are not telemetry (the battery's setpoint); curtail_pct is both: the
# device reports the curtailment in force, 0 % until it is first curtailed.
NOT_TELEMETRY = {"p_setpoint_kw"}


@dataclass(slots=True)
class DeadLetter:
    device: str
    raw: bytes
    reason: str


@dataclass(slots=True)
class _Device:
    id: str
    client: mqtt.Client
    seq: int = 0
    last_ts: datetime | None = None
    writable: set[str] = field(default_factory=set)
    last_publish: mqtt.MQTTMessageInfo | None = None


class MqttField:
    def __init__(
        self,
        field_: VirtualField,
        site_id: str,
        host: str,
        port: int,
        *,
        period_s: float | None = None,
    ) -> None:
        self._field = field_
        self._site = site_id
        self._host = host
        self._port = port
        self._period_s = field_.scenario.step_s if period_s is None else period_s
        self._devices: dict[str, _Device] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.counts: Counter[str] = Counter()
        self.dead_letters: list[DeadLetter] = []

    def topic(self, device: str, leaf: str) -> str:
        return f"{wire.Topics(site=self._site, device=device).prefix}/{leaf}"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        spec = self._field.spec
        writable: dict[str, set[str]] = {spec.meter.id: set()}
        writable.update({b.id: {"p_setpoint_kw"} for b in spec.batteries})
        writable.update({p.id: {"curtail_pct"} if p.curtailable else set() for p in spec.profiles})
        connected: list[asyncio.Future[None]] = []
        for device, roles in writable.items():
            client = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=f"gridaios-field-{self._site}-{device}",
            )
            client.will_set(self.topic(device, "status"), self._status("offline"), 1, True)
            done: asyncio.Future[None] = self._loop.create_future()
            client.on_connect = self._on_connect(device, done)
            client.on_message = self._on_message(device)
            self._devices[device] = _Device(id=device, client=client, writable=roles)
            client.connect_async(self._host, self._port, keepalive=30)
            client.loop_start()
            connected.append(done)
        async with asyncio.timeout(10):
            await asyncio.gather(*connected)
        self._field.add_telemetry_listener(self._on_telemetry)
        self._field.faults.on_change(self._on_fault)
        log.info("virtual field on MQTT %s:%d: %d devices", self._host, self._port, len(connected))

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until the broker has acknowledged every message the devices published so
        far (one client's QoS 1 messages complete in order, so its last one is enough)."""
        async with asyncio.timeout(timeout_s):
            for device in list(self._devices.values()):
                last = device.last_publish
                while last is not None and not last.is_published():
                    await asyncio.sleep(0.01)

    def _publish(self, device: _Device, leaf: str, payload: bytes, retain: bool = False) -> None:
        device.last_publish = device.client.publish(self.topic(device.id, leaf), payload, 1, retain)

    async def stop(self) -> None:
        for device in self._devices.values():
            info = device.client.publish(
                self.topic(device.id, "status"), self._status("offline"), 1, True
            )
            await asyncio.to_thread(info.wait_for_publish, 5)
            device.client.disconnect()
            device.client.loop_stop()
        self._devices.clear()

    # --- paho callbacks (paho's network thread) -------------------------------

    def _on_connect(self, device: str, done: asyncio.Future[None]) -> Any:
        def on_connect(client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
            if rc.is_failure:
                log.error("MQTT device %s: connect refused: %s", device, rc)
                return
            if self._devices[device].writable:
                client.subscribe(self.topic(device, "cmd"), qos=1)
            self._publish(self._devices[device], "status", self._status("online"), retain=True)
            assert self._loop is not None
            self._loop.call_soon_threadsafe(_resolve, done)

        return on_connect

    def _on_message(self, device: str) -> Any:
        def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._handle, device, bytes(msg.payload))

        return on_message

    # --- the field's loop -----------------------------------------------------

    def _handle(self, device: str, raw: bytes) -> None:
        self.counts["commands"] += 1
        try:
            cmd = wire.decode_command(raw)
        except wire.ProtocolError as err:
            reason = f"bad command payload: {err}"
            self._dead_letter(device, raw, reason)
            if err.key is not None:  # without a key there is nothing to correlate an ack with
                self._ack(device, err.key, "rejected", math.nan, reason)
            return
        asset, _, role = cmd.point.partition(".")
        if asset != device or role not in self._devices[device].writable:
            reason = f"point {cmd.point!r} is not a writable point of {device}"
            self._dead_letter(device, raw, reason)
            self._ack(device, cmd.key, "rejected", math.nan, reason)
            return
        if cmd.valid_until <= self._field.now():
            self.counts["expired"] += 1
            self._ack(device, cmd.key, "expired", math.nan, "valid_until has passed")
            return

        def reply(status: str, held: float, reason: str) -> None:
            self.counts[status] += 1
            self._ack(device, cmd.key, status, held, reason)

        self._field.submit_write(device, role, cmd.key, cmd.value, reply)

    def _dead_letter(self, device: str, raw: bytes, reason: str) -> None:
        self.counts["rejected_bad_input"] += 1
        self.dead_letters.append(DeadLetter(device=device, raw=raw, reason=reason))
        log.warning("MQTT device %s: %s", device, reason)

    def _ack(self, device: str, key: str, status: str, value: float, reason: str) -> None:
        assert status in wire.ACK_STATUSES
        ack = wire.Ack(
            key=key,
            status=status,  # checked above
            value=value if math.isfinite(value) else None,
            reason=reason,
            ts=self._field.now(),
        )
        self._publish(self._devices[device], "ack", wire.encode_ack(ack))

    def _on_telemetry(self, ts: datetime, batch: list[tuple[str, str, float | str, bool]]) -> None:
        per_device: dict[str, list[wire.Sample]] = {}
        for owner, role, value, bad in batch:
            if role.startswith("cmd_key") or role in NOT_TELEMETRY or isinstance(value, str):
                continue
            per_device.setdefault(owner, []).append(
                wire.Sample(
                    point=f"{owner}.{role}",
                    value=float(value),
                    unit=UNITS.get(role, ""),
                    ts=ts,
                    quality="bad" if bad else "good",
                )
            )
        for device_id, samples in per_device.items():
            device = self._devices.get(device_id)
            if device is None:
                continue
            if device.last_ts and (ts - device.last_ts).total_seconds() < self._period_s:
                continue
            device.last_ts = ts
            device.seq += 1
            self._publish(
                device, "telemetry", wire.encode_telemetry(device_id, device.seq, samples)
            )
            self.counts["telemetry"] += 1

    def _on_fault(self, event: ScenarioEvent, on: bool) -> None:
        device = self._devices.get(event.element)
        if event.kind is EventKind.DEVICE_OFFLINE and device is not None:
            state: wire.DeviceState = "offline" if on else "online"
            self._publish(device, "status", self._status(state), retain=True)

    def _status(self, state: wire.DeviceState) -> bytes:
        return wire.encode_status(state, self._field.now())


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)

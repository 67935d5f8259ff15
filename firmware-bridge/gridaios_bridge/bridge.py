"""The bridge's imperative shell: MQTT (paho, its own network thread) <-> Modbus device.

One main thread owns all state. The paho thread only puts events on a queue. The main
loop waits on that queue until the next deadline, which is the earlier of the next
cycle and the fail-safe deadline (last heartbeat + T), so fail-safe is entered at T
plus the time of one device write, well inside T + one cycle.
"""

from __future__ import annotations

import logging
import queue
import socket
from dataclasses import dataclass, replace
from typing import Any

import paho.mqtt.client as mqtt
from gridaios_wire.jsonv1 import (
    Ack,
    DeviceState,
    ProtocolError,
    Sample,
    Topics,
    decode_command,
    decode_heartbeat,
    encode_ack,
    encode_status,
    encode_telemetry,
)
from paho.mqtt.enums import CallbackAPIVersion

from gridaios_bridge import core
from gridaios_bridge.clock import Clock, SystemClock
from gridaios_bridge.config import BridgeConfig
from gridaios_bridge.deadletter import DeadLetters
from gridaios_bridge.device import Reading
from gridaios_bridge.devices import open_device
from gridaios_bridge.forwarder import Forwarder
from gridaios_bridge.ledger import Ledger, LedgerEntry
from gridaios_bridge.modbus import ModbusError
from gridaios_bridge.spool import Spool

__all__ = ["Bridge"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Event:
    kind: str  # "message" | "connected" | "disconnected" | "puback" | "stop"
    topic: str = ""
    payload: bytes = b""
    retain: bool = False
    mid: int = 0
    received_s: float = 0.0  # monotonic time the paho thread received it


def _no_delay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    """Small acks must not wait for Nagle + delayed ACK (about 40 ms per message)."""
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Bridge:
    def __init__(self, cfg: BridgeConfig, clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.topics = Topics(site=cfg.site, device=cfg.device)
        # SimpleQueue.put is reentrant: safe from the SIGTERM handler (stop()).
        self.events: queue.SimpleQueue[_Event] = queue.SimpleQueue()
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(cfg.state_dir / "ledger.jsonl", fsync=cfg.fsync)
        self.spool = Spool(
            cfg.state_dir / "spool", max_messages=cfg.spool_max_messages, fsync=cfg.fsync
        )
        self.dead = DeadLetters(cfg.state_dir / "deadletter.jsonl")
        self.device = open_device(cfg.modbus, cfg.device_map)
        self.device_ok = False
        self.reading: Reading | None = None
        self.failsafe_unconfirmed = False  # in fail-safe, safe default not yet written
        self.retained_heartbeats_ignored = 0
        self.client = self._make_client()
        self.forwarder = Forwarder(
            self.spool,
            lambda payload: self.client.publish(self.topics.telemetry, payload, qos=1),
            self.clock.monotonic,
        )
        self.state = core.initial_state(self.clock.monotonic(), self._read_held(), cfg.failsafe)
        if self.state.mode == "failsafe":
            log.warning("device found in safe-default mode at start: staying in fail-safe")

    # ---- MQTT plumbing (paho thread -> queue) -------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client_id = self.cfg.mqtt.client_id or f"gridaios-bridge-{self.cfg.site}-{self.cfg.device}"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        client.will_set(
            self.topics.status,
            encode_status("offline", self.clock.now_utc(), "bridge connection lost"),
            qos=1,
            retain=True,
        )
        client.reconnect_delay_set(
            min_delay=1, max_delay=max(1, int(self.cfg.mqtt.reconnect_max_s))
        )
        client.max_queued_messages_set(1000)  # acks/status queued during an outage, bounded
        client.on_socket_open = _no_delay
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.warning("broker refused the connection: %s", rc)
            return
        client.subscribe([(self.topics.cmd, 1), (self.topics.heartbeat, 1)])
        self.events.put(_Event("connected"))

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.events.put(_Event("disconnected", payload=str(rc).encode()))

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        received_s = self.clock.monotonic()
        self.events.put(
            _Event(
                "message", msg.topic, bytes(msg.payload), bool(msg.retain), received_s=received_s
            )
        )

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        self.events.put(_Event("puback", mid=mid))

    def stop(self) -> None:
        """Thread- and signal-safe request to stop the main loop."""
        self.events.put(_Event("stop"))

    # ---- main loop ----------------------------------------------------------------------

    def run(self) -> None:
        cfg = self.cfg
        log.info(
            "bridge %s/%s: mqtt %s:%d, device %s:%d, T=%.3f s, cycle %.3f s",
            cfg.site,
            cfg.device,
            cfg.mqtt.host,
            cfg.mqtt.port,
            cfg.modbus.host,
            cfg.modbus.port,
            cfg.failsafe.heartbeat_timeout_s,
            cfg.cycle_s,
        )
        self.client.connect_async(cfg.mqtt.host, cfg.mqtt.port, keepalive=cfg.mqtt.keepalive_s)
        self.client.loop_start()
        next_cycle_s = self.clock.monotonic()
        try:
            while True:
                now_s = self.clock.monotonic()
                deadline = next_cycle_s
                fs_due = core.failsafe_deadline_s(self.state, cfg.failsafe)
                if fs_due is not None:
                    deadline = min(deadline, fs_due)
                try:
                    event = self.events.get(timeout=max(0.0, deadline - now_s))
                except queue.Empty:
                    event = None
                if event is not None:
                    if event.kind == "stop":
                        break
                    self._handle(event)
                self._check_failsafe()
                now_s = self.clock.monotonic()
                if now_s >= next_cycle_s:
                    self._cycle()
                    next_cycle_s += cfg.cycle_s
                    if next_cycle_s <= now_s:  # fell behind: skip, do not burst
                        next_cycle_s = now_s + cfg.cycle_s
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        info = self.client.publish(
            self.topics.status,
            encode_status("offline", self.clock.now_utc(), "bridge stopped"),
            qos=1,
            retain=True,
        )
        if self.forwarder.connected:
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError):
                log.info("offline status not confirmed before stop")
        self.client.disconnect()
        self.client.loop_stop()
        self.device.close()
        self.ledger.close()

    def _handle(self, event: _Event) -> None:
        if event.kind == "connected":
            if not self.forwarder.connected:
                log.info("connected to the broker")
            self.forwarder.connected = True
            self._publish_status()
            self.forwarder.pump()
        elif event.kind == "disconnected":
            if self.forwarder.connected:
                log.warning("broker connection lost (%s); spooling telemetry", event.payload)
            self.forwarder.connected = False
        elif event.kind == "puback":
            self.forwarder.on_puback(event.mid)
        elif event.topic == self.topics.heartbeat:
            self._on_heartbeat(event)
        elif event.topic == self.topics.cmd:
            self._on_command(event)

    # ---- heartbeats, fail-safe, commands -----------------------------------------------

    def _on_heartbeat(self, event: _Event) -> None:
        if event.retain:
            # A retained heartbeat is old by construction: it must not keep us alive.
            self.retained_heartbeats_ignored += 1
            return
        try:
            decode_heartbeat(event.payload)
        except ProtocolError as err:
            self.dead.add(self.clock.now_utc(), event.topic, str(err), event.payload)
            return
        # Age counts from receipt on the network thread, not from when the loop got to it.
        self.state = core.on_heartbeat(self.state, event.received_s)

    def _check_failsafe(self) -> None:
        due = core.failsafe_deadline_s(self.state, self.cfg.failsafe)
        now_s = self.clock.monotonic()
        if due is None or now_s < due:
            return
        self.state = core.enter_failsafe(self.state, now_s, self.cfg.failsafe)
        written = self._drive_device()
        self.failsafe_unconfirmed = not written
        age_s = self.clock.monotonic() - self.state.last_heartbeat_s
        reason = (
            f"no heartbeat for {age_s:.3f} s (timeout {self.cfg.failsafe.heartbeat_timeout_s} s); "
            f"safe default {self.cfg.failsafe.safe_default_kw:g} kW "
            + ("written" if written else "NOT written yet: device unreachable, retrying")
        )
        log.warning("fail-safe: %s", reason)
        self._publish_status(reason, heartbeat_age_s=age_s if written else None)

    def _on_command(self, event: _Event) -> None:
        now_utc = self.clock.now_utc()
        try:
            if event.retain:
                key = decode_command(event.payload).key
                raise ProtocolError("retained command refused: commands must not be retained", key)
            cmd = decode_command(event.payload)
        except ProtocolError as err:
            self.dead.add(now_utc, event.topic, str(err), event.payload)
            if err.key is not None:
                held = self.state.written.setpoint_kw if self.state.written else None
                self._ack(
                    Ack(key=err.key, status="rejected", value=held, reason=str(err), ts=now_utc)
                )
            return
        self._check_failsafe()
        was_failsafe = self.state.mode == "failsafe"
        new_state, decision = core.decide_command(
            self.state,
            cmd,
            setpoint_point=self.cfg.setpoint_point,
            already_applied=cmd.key in self.ledger,
            device_ok=self.device_ok,
            fs=self.cfg.failsafe,
            limits=self.cfg.limits,
            now_s=self.clock.monotonic(),
            now_utc=now_utc,
        )
        if decision.apply:
            assert decision.value_kw is not None
            # Durable before the device sees it: at most once, also across SIGKILL.
            self.ledger.record(
                LedgerEntry(
                    key=cmd.key,
                    value_kw=decision.value_kw,
                    valid_until=cmd.valid_until,
                    applied_at=now_utc,
                )
            )
            self.state = new_state
            if not self._drive_device():
                pending = "first device write failed; retried every cycle"
                decision = replace(
                    decision, reason=f"{decision.reason}; {pending}" if decision.reason else pending
                )
            if was_failsafe:
                log.info("left fail-safe on a fresh heartbeat and command %s", cmd.key)
                self._publish_status()
        elif decision.status != "duplicate":
            log.info("command %s %s: %s", cmd.key, decision.status, decision.reason)
        self._ack(
            Ack(
                key=cmd.key,
                status=decision.status,
                value=decision.value_kw,
                reason=decision.reason,
                ts=self.clock.now_utc(),
            )
        )

    def _ack(self, ack: Ack) -> None:
        self.client.publish(self.topics.ack, encode_ack(ack), qos=1)

    def _publish_status(self, reason: str = "", heartbeat_age_s: float | None = None) -> None:
        state: DeviceState = "failsafe" if self.state.mode == "failsafe" else "online"
        payload = encode_status(state, self.clock.now_utc(), reason, heartbeat_age_s)
        self.client.publish(self.topics.status, payload, qos=1, retain=True)

    # ---- device ------------------------------------------------------------------------

    def _read_held(self) -> core.DeviceOutput | None:
        reading = self._read_device()
        if reading is None:
            return None
        return core.DeviceOutput(setpoint_kw=reading.setpoint_kw, safe_mode=reading.safe_mode)

    def _read_device(self) -> Reading | None:
        try:
            reading = self.device.read()
        except ModbusError as err:
            self._set_device_ok(False, str(err))
            self.reading = None
            return None
        self._set_device_ok(True)
        self.reading = reading
        return reading

    def _set_device_ok(self, ok: bool, why: str = "") -> None:
        if ok != self.device_ok:
            if ok:
                log.info("device reachable")
            else:
                log.warning("device unreachable: %s", why)
        self.device_ok = ok

    def _drive_device(self) -> bool:
        """Write what the core wants if it differs from what was written. True if held."""
        now_s, now_utc = self.clock.monotonic(), self.clock.now_utc()
        self.state, out = core.output(
            self.state, fs=self.cfg.failsafe, limits=self.cfg.limits, now_s=now_s, now_utc=now_utc
        )
        # Compare what the registers will hold (their resolution), not the float; a device
        # without a safe-default mode holds the safe default as its setpoint.
        safe_mode = out.safe_mode and self.device.has_safe_mode
        setpoint_kw = out.setpoint_kw
        if out.safe_mode and not self.device.has_safe_mode:
            setpoint_kw = self.cfg.failsafe.safe_default_kw
        as_written = core.DeviceOutput(
            setpoint_kw=self.device.quantize(setpoint_kw), safe_mode=safe_mode
        )
        if self.state.written == as_written:
            return True
        try:
            self.device.write(out.setpoint_kw, out.safe_mode, self.cfg.failsafe.safe_default_kw)
        except ModbusError as err:
            self._set_device_ok(False, str(err))
            return False
        self._set_device_ok(True)
        self.state = core.mark_written(self.state, as_written)
        return True

    # ---- cycle and telemetry -----------------------------------------------------------

    def _cycle(self) -> None:
        reading = self._read_device()
        # Unknown so far, or in fail-safe (where a device that left safe mode by itself
        # is put back): take the read-back as what the device holds.
        if reading is not None and (self.state.written is None or self.state.mode == "failsafe"):
            self.state = core.mark_written(
                self.state,
                core.DeviceOutput(setpoint_kw=reading.setpoint_kw, safe_mode=reading.safe_mode),
            )
        written = self._drive_device()
        if written and self.failsafe_unconfirmed and self.state.mode == "failsafe":
            self.failsafe_unconfirmed = False
            reason = "safe default written late: the device was unreachable at fail-safe entry"
            log.warning("fail-safe: %s", reason)
            self._publish_status(reason)
        self.spool.append(lambda seq: encode_telemetry(self.cfg.device, seq, self._samples()))
        self.forwarder.pump()
        if self.ledger.should_compact():
            dropped = self.ledger.compact(self.clock.now_utc())
            log.info(
                "ledger compacted: %d expired keys dropped, %d kept", dropped, len(self.ledger)
            )

    def _samples(self) -> list[Sample]:
        ts, dev = self.clock.now_utc(), self.cfg.device
        failsafe = float(self.state.mode == "failsafe")
        samples = [
            Sample(point=f"{dev}.bridge_failsafe", value=failsafe, unit="", ts=ts),
            Sample(point=f"{dev}.bridge_device_ok", value=float(self.device_ok), unit="", ts=ts),
            Sample(
                point=f"{dev}.bridge_spool_dropped",
                value=float(self.spool.dropped_total),
                unit="count",
                ts=ts,
            ),
        ]
        if self.reading is not None:  # never a stale value with a fresh timestamp
            rd = self.reading
            samples.append(Sample(point=f"{dev}.p_kw", value=rd.measured_kw, unit="kW", ts=ts))
            if rd.soc_pct is not None:
                samples.append(Sample(point=f"{dev}.soc_pct", value=rd.soc_pct, unit="%", ts=ts))
            samples += [
                Sample(point=f"{dev}.p_setpoint_kw", value=rd.setpoint_kw, unit="kW", ts=ts),
                Sample(point=f"{dev}.safe_mode", value=float(rd.safe_mode), unit="", ts=ts),
            ]
            samples += [
                Sample(point=f"{dev}.{name}", value=value, unit=unit, ts=ts)
                for name, value, unit in rd.extra
            ]
        return samples

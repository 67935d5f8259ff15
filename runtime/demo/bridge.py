"""``gridaios demo --bridge``: the demo with its battery behind a firmware bridge.

Parts, each real: mosquitto (started here unless a broker is given), the virtual
field (SimPy, OPC UA for the meter, PV and load), the field's battery as a Modbus
TCP device (``simulator.modbusface``), ``gridaios-bridge`` as a subprocess between
that device and MQTT, and the conductor, which reads the battery from the bridge's
telemetry and sends its setpoints as JSON wire commands (``runtime.conductor.sinks``).

The conductor runs on the demo's simulated clock, the bridge in real time; the
conductor translates times for the bridge's source (``ScaledTimeBase``): a
command's ``valid_until`` leaves in wall time, telemetry arrives in simulated time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from runtime.conductor.loop import Conductor
from runtime.conductor.sinks import ScaledTimeBase, TimeBase, mqtt_command_source
from runtime.config import site
from runtime.config.model import BatteryAsset, SiteConfig
from runtime.core.errors import GridaiosError
from runtime.demo.feeder import (
    REPO,
    ClockFromStart,
    DemoResult,
    free_port,
    summarize,
    together,
    with_endpoint,
)
from runtime.log.eventlog import EventLog
from simulator import FieldSpec, Scenario, VirtualField
from simulator.modbusface import BatteryRegisterFace

log = logging.getLogger(__name__)

BRIDGE_SITE_CONFIG = REPO / "configs" / "demo-feeder-bridge.yaml"
BRIDGE_CONFIG = REPO / "configs" / "bridge-demo.yaml"
# What the field serves of a bridged battery on its own OPC UA server (nobody reads it
# there in this demo: the runtime reads the battery from the bridge).
FIELD_ROLES = ("p_kw", "soc_pct", "p_setpoint_kw", "cmd_key", "cmd_key_applied")


class BridgeDemoError(GridaiosError):
    """A part of the bridge demo could not start; the message says which and why."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> BrokerAddress:
        host, _, port = text.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"--broker {text!r}: give HOST:PORT, e.g. 127.0.0.1:1883")
        return cls(host, int(port))


# --- the parts -------------------------------------------------------------------


class Mosquitto:
    """A mosquitto on a free loopback port, for this demo run only."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.address = BrokerAddress("127.0.0.1", free_port())

    def start(self) -> BrokerAddress:
        binary = next(
            (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if Path(p).exists()),
            None,
        )
        if binary is None:
            raise BridgeDemoError(
                "mosquitto is not installed: run `make demo-bridge` (scripts/sysdeps.sh "
                "installs it) or give a broker with --broker HOST:PORT"
            )
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.address.port} 127.0.0.1\nallow_anonymous true\n"
            "persistence false\nset_tcp_nodelay true\n"
        )
        with (self.workdir / "mosquitto.log").open("ab") as out:
            self.process = subprocess.Popen([binary, "-c", str(conf)], stdout=out, stderr=out)
        _wait_listening(self.address, self.process, self.workdir / "mosquitto.log")
        return self.address

    def stop(self) -> None:
        _terminate(self.process)


class BridgeProcess:
    """``gridaios-bridge --config BRIDGE.json`` as a real OS process."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> BridgeProcess:
        cmd = [sys.executable, "-m", "gridaios_bridge", "--config", str(self.config_path)]
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(cmd, stdout=out, stderr=out)
        return self

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise BridgeDemoError(
                f"gridaios-bridge exited with status {self.process.returncode}: {tail}"
            )

    def stop(self) -> None:
        _terminate(self.process)


@dataclass
class BridgeWatch:
    """Counts what one bridge says on the wire: acks by status, fail-safe entries."""

    broker: BrokerAddress
    site: str
    device: str
    acks: dict[str, int] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    failsafe_entries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _client: paho.Client | None = None

    def start(self) -> BridgeWatch:
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"gridaios-demo-watch-{self.device}"
        )
        prefix = f"gridaios/v1/{self.site}/{self.device}"
        client.on_connect = lambda c, *_: c.subscribe(
            [(f"{prefix}/ack", 1), (f"{prefix}/status", 1)]
        )
        client.on_message = self._on_message
        client.connect(self.broker.host, self.broker.port, keepalive=10)
        client.loop_start()
        self._client = client
        return self

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        with self._lock:
            if msg.topic.endswith("/ack"):
                status = str(body.get("status"))
                self.acks[status] = self.acks.get(status, 0) + 1
            elif not msg.retain:  # a retained status is from before this run
                self.statuses.append(body)
                # An entry publishes the heartbeat age at which the safe default was written.
                if body.get("state") == "failsafe" and "heartbeat_age_s" in body:
                    self.failsafe_entries += 1

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "applied": self.acks.get("applied", 0),
                "duplicates": self.acks.get("duplicate", 0),
                "rejected": self.acks.get("rejected", 0),
                "expired": self.acks.get("expired", 0),
                "failsafe_entries": self.failsafe_entries,
            }


# --- configs -----------------------------------------------------------------------


def bridged_batteries(config: SiteConfig) -> list[BatteryAsset]:
    return [
        a
        for a in config.assets
        if isinstance(a, BatteryAsset) and mqtt_command_source(config, a) is not None
    ]


def with_broker(config: SiteConfig, broker: BrokerAddress) -> SiteConfig:
    """Point every MQTT source at the demo's broker."""
    sources = [
        s.model_copy(update={"host": broker.host, "port": broker.port}) if s.type == "mqtt" else s
        for s in config.sources
    ]
    return config.model_copy(update={"sources": sources})


def field_spec_behind_bridge(config: SiteConfig, bridged: set[str]) -> FieldSpec:
    """The field's view: a bridged battery is served under its own OPC UA nodes (the
    site config names its points on the bridge's MQTT wire)."""
    spec = site.field_spec(config)
    batteries = [
        replace(b, nodes={role: f"ns=2;s={b.id}.{role}" for role in FIELD_ROLES})
        if b.id in bridged
        else b
        for b in spec.batteries
    ]
    return replace(spec, batteries=batteries)


def bridge_config_for_run(
    template: Path, *, site_id: str, broker: BrokerAddress, device_port: int, state_dir: Path
) -> dict[str, Any]:
    """The template with this run's broker, device port and state dir (JSON-ready)."""
    try:
        body = yaml.safe_load(template.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise BridgeDemoError(f"{template}: cannot read the bridge config: {err}") from err
    if not isinstance(body, dict) or body.get("site") != site_id:
        raise BridgeDemoError(
            f"{template}: site = {body.get('site') if isinstance(body, dict) else None!r}: "
            f"must be the site config's id {site_id!r}"
        )
    body["mqtt"] = {**body.get("mqtt", {}), "host": broker.host, "port": broker.port}
    body["modbus"] = {**body.get("modbus", {}), "host": "127.0.0.1", "port": device_port}
    body["state_dir"] = str(state_dir)
    return body


# --- the run -----------------------------------------------------------------------


@dataclass
class BridgeDemoResult:
    demo: DemoResult
    bridge: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {**self.demo.as_json(), "bridge": self.bridge}


async def run_bridge_demo(
    *,
    config: SiteConfig,
    scenario: Scenario,
    db_path: Path,
    speed: float,
    duration_s: float | None,
    auto_approve: bool,
    workdir: Path,
    bridge_template: Path = BRIDGE_CONFIG,
    broker: BrokerAddress | None = None,
) -> BridgeDemoResult:
    bridged = bridged_batteries(config)
    if len(bridged) != 1:
        raise BridgeDemoError(
            f"the bridge demo needs exactly one battery whose p_setpoint_kw source is an MQTT "
            f"(JSON) source; this config has {len(bridged)} (see {BRIDGE_SITE_CONFIG.name})"
        )
    battery = bridged[0]
    source = mqtt_command_source(config, battery)
    assert source is not None
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    mosquitto = Mosquitto(workdir) if broker is None else None
    if mosquitto is not None:
        broker = await asyncio.to_thread(mosquitto.start)
    assert broker is not None
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/gridaios/field"
    config = with_broker(with_endpoint(config, endpoint), broker)
    clock = ClockFromStart(scenario.start, speed)
    end = scenario.start + timedelta(
        seconds=min(duration_s or scenario.duration_s, scenario.duration_s)
    )
    spec = field_spec_behind_bridge(config, {battery.id})
    field_ = VirtualField(spec, scenario, clock, endpoint)
    face = BatteryRegisterFace(field_, battery.id)
    events = EventLog(db_path)
    timebase: TimeBase = ScaledTimeBase(clock, speed)
    conductor = Conductor(
        config, events, clock, auto_approve=auto_approve, device_time={source.id: timebase}
    )
    bridge: BridgeProcess | None = None
    run_counts: dict[str, int] = {}
    watch = BridgeWatch(broker, source.site, battery.id)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    try:
        await field_.start()  # an OPC UA server takes seconds to start on a busy machine:
        await face.start()
        clock.begin()  # the scenario's time runs from here
        bridge_cfg = workdir / "bridge.json"
        body = bridge_config_for_run(
            bridge_template,
            site_id=source.site,
            broker=broker,
            device_port=face.port,
            state_dir=workdir / "bridge-state",
        )
        bridge_cfg.write_text(json.dumps(body, indent=2))
        watch.start()
        bridge = BridgeProcess(bridge_cfg, workdir / "bridge.log").start()

        async def conduct() -> None:
            await conductor.connect()
            bridge.check_alive()
            await conductor.run(until=end)

        try:
            await together(field_.run(until=end), conduct())  # the field runs while it connects
            run_counts = watch.counts()  # while the conductor ran (its stop fails the bridge safe)
        finally:
            await conductor.close()  # the heartbeat stops with the conductor
    finally:
        if bridge is not None:
            await asyncio.to_thread(bridge.stop)
        watch.stop()
        await face.stop()
        await field_.stop()
        events.close()
        if mosquitto is not None:
            mosquitto.stop()
    wall = loop.time() - t0
    demo = summarize(config, scenario, field_, conductor, end, db_path, wall)
    ledger = workdir / "bridge-state" / "ledger.jsonl"
    counts_more = {
        "ledger_keys": len(ledger.read_text().splitlines()) if ledger.exists() else 0,
        "device_writes": face.counts["writes"],
        "runtime_sink": {k: v for s in conductor.sinks.values() for k, v in s.counts.items()},
        "config": str(bridge_cfg),
        "log": str(workdir / "bridge.log"),
    }
    return BridgeDemoResult(demo=demo, bridge={**run_counts, **counts_more})


def bridge_summary(result: BridgeDemoResult) -> str:
    b = result.bridge
    rows = [
        ("bridge acks applied / duplicate", f"{b['applied']} / {b['duplicates']}"),
        ("bridge acks rejected / expired", f"{b['rejected']} / {b['expired']}"),
        ("bridge fail-safe entries", str(b["failsafe_entries"])),
        ("keys in the bridge's ledger", str(b["ledger_keys"])),
        ("bridge log", b["log"]),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


# --- helpers -----------------------------------------------------------------------


def _wait_listening(address: BrokerAddress, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BridgeDemoError(f"mosquitto exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection((address.host, address.port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise BridgeDemoError(f"mosquitto did not listen on {address.host}:{address.port} in 10 s")


def _terminate(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)

"""The demo's battery behind a real ``gridaios-bridge`` process and a real mosquitto.

The virtual field's SimPy battery is the Modbus device (simulator/modbusface.py); the
conductor sends its setpoints as JSON wire commands through the MQTT command sink and
reads the battery from the bridge's telemetry (runtime/sinks). The first test runs
``gridaios demo --bridge`` as a user does; the others drive the parts directly.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from runtime.conductor.loop import Conductor
from runtime.conductor.sinks import ScaledTimeBase, SinkResult
from runtime.config.model import SiteConfig, load_config
from runtime.core.clock import ScaledClock
from runtime.decide.policy import Proposal
from runtime.demo.bridge import (
    BRIDGE_CONFIG,
    BRIDGE_SITE_CONFIG,
    BridgeProcess,
    BridgeWatch,
    BrokerAddress,
    bridge_config_for_run,
    field_spec_behind_bridge,
    with_broker,
)
from runtime.demo.feeder import SCENARIO_DIR, free_port, with_endpoint
from runtime.log.eventlog import EventLog
from safety import ApprovedCommand, Command, CommandKind, Origin
from simulator import VirtualField, load_scenario
from simulator.modbusface import BatteryRegisterFace
from tests.support.mosquitto import Broker

REPO = Path(__file__).resolve().parents[2]
T_S, CYCLE_S = 1.0, 0.1  # configs/bridge-demo.yaml
SPEED = 60.0  # simulated seconds per wall second: a reading is fresh for 2 wall seconds

pytestmark = pytest.mark.integration

PEAK_SCENARIO = """name: bridge-peak
description: the feeder above the 1,100 kW threshold from the first minute
start: 2026-07-15T18:00:00+00:00
duration_s: 1800
step_s: 10
seed: 7
noise_pct: 0.0
profiles:
  base_load:
    - ["18:00", 1150]
    - ["18:30", 1300]
  load1:
    - ["18:00", 150]
    - ["18:30", 150]
  pv1:
    - ["18:00", 90]
    - ["18:30", 40]
"""


def test_demo_bridge_dispatches_are_applied_by_the_bridge_and_verified(tmp_path: Path) -> None:
    scenario = tmp_path / "bridge-peak.yaml"
    scenario.write_text(PEAK_SCENARIO)
    db = tmp_path / "events.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "runtime.cli",
            "demo",
            "--bridge",
            "--auto-approve",
            "--json",
            "--scenario",
            str(scenario),
            "--speed",
            "150",
            "--db",
            str(db),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    d, bridge = summary["dispatches"], summary["bridge"]
    assert d["sent"] >= 2, summary
    assert d["verified"] == d["sent"] and d["failed"] == 0, summary
    assert bridge["applied"] == d["sent"] and bridge["duplicates"] == 0, bridge
    assert bridge["failsafe_entries"] == 0, bridge
    assert bridge["runtime_sink"]["verified"] == d["sent"], bridge
    log = EventLog(db)
    try:
        verified = {
            e.dispatch_id: e.payload["value"] for e in log.events(kinds=("dispatch.verified",))
        }
    finally:
        log.close()
    # The bridge applied each key once (its ledger), and the simulated battery was told
    # each value through its registers (the device-side truth, in dispatch order).
    state = Path(bridge["config"]).parent / "bridge-state"
    ledger = [json.loads(line) for line in (state / "ledger.jsonl").read_text().splitlines()]
    assert sorted(e["key"] for e in ledger) == sorted(verified)
    device_values = [c["value_kw"] for c in summary["device_ledger"]]
    assert all(c["key"].startswith("bat1-modbus-") for c in summary["device_ledger"])
    # A value equal to the one before needs no write (registers hold 0.1 kW); a fail-safe
    # write may follow at the end (the demo stops the conductor before the bridge).
    told = [round(v, 1) for v in verified.values()]
    told = [v for i, v in enumerate(told) if i == 0 or v != told[i - 1]]
    assert device_values[: len(told)] == told, (device_values, told)
    assert summary["peak_kw_after"] < summary["peak_kw_before"]


# --- the parts, driven directly -------------------------------------------------------


@dataclass
class Site:
    config: SiteConfig
    clock: ScaledClock
    field: VirtualField
    face: BatteryRegisterFace
    bridge: BridgeProcess
    watch: BridgeWatch
    state_dir: Path

    def conductor(self, db: Path) -> Conductor:
        return Conductor(
            self.config,
            EventLog(db),
            self.clock,
            auto_approve=True,
            device_time={"bridge": ScaledTimeBase(self.clock, SPEED)},
        )

    def ledger_keys(self) -> list[str]:
        path = self.state_dir / "ledger.jsonl"
        return [json.loads(line)["key"] for line in path.read_text().splitlines()]


@asynccontextmanager
async def bridged_site(tmp_path: Path, broker: Broker, min_hold_s: float) -> AsyncIterator[Site]:
    address = BrokerAddress(broker.host, broker.port)
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/gridaios/field"
    config = with_broker(with_endpoint(load_config(BRIDGE_SITE_CONFIG), endpoint), address)
    scenario = load_scenario("evening-peak", SCENARIO_DIR)
    clock = ScaledClock(scenario.start, SPEED)
    field = VirtualField(field_spec_behind_bridge(config, {"bat1"}), scenario, clock, endpoint)
    await field.start()
    face = await BatteryRegisterFace(field, "bat1").start()
    running = asyncio.create_task(field.run())
    state_dir = tmp_path / "bridge-state"
    body = bridge_config_for_run(
        BRIDGE_CONFIG,
        site_id="demo-feeder",
        broker=address,
        device_port=face.port,
        state_dir=state_dir,
    )
    body["failsafe"]["min_hold_s"] = min_hold_s
    bridge_cfg = tmp_path / "bridge.json"
    bridge_cfg.write_text(json.dumps(body))
    watch = BridgeWatch(address, "demo-feeder", "bat1").start()
    bridge = BridgeProcess(bridge_cfg, tmp_path / "bridge.log").start()
    try:
        yield Site(config, clock, field, face, bridge, watch, state_dir)
    finally:
        await asyncio.to_thread(bridge.stop)
        watch.stop()
        running.cancel()
        await face.stop()
        await field.stop()


async def until(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


async def dispatch(conductor: Conductor, value_kw: float, tag: str) -> None:
    """One operator setpoint through the whole path: gate, simulation, outbox, sink."""
    now = conductor.clock()
    command = Command(
        key=f"demo-feeder-bat1-{tag}",
        asset="bat1",
        kind=CommandKind.ACTIVE_POWER_KW,
        value=value_kw,
        start=now,
        end=now + timedelta(seconds=900),
        origin=Origin.OPERATOR,
    )
    proposal = Proposal(command=command, policy="test", rationale=f"test setpoint {tag}")
    await conductor.handle(proposal, conductor.state.snapshot(), now)


def reading(conductor: Conductor, role: str) -> float | None:
    r = conductor.state.snapshot().get(f"bat1.{role}")
    return None if r is None else r.value


async def test_conductor_stop_reverts_the_battery_within_t_plus_one_cycle_and_restart_sees_it(
    tmp_path: Path, mosquitto: Broker
) -> None:
    db = tmp_path / "events.db"
    async with bridged_site(tmp_path, mosquitto, min_hold_s=0.5) as site:
        first = site.conductor(db)
        await first.connect()
        await dispatch(first, 100.0, "first")
        assert first.counts["verified"] == 1, first.counts
        assert site.face.registers()[0] == 1000 and not site.face.safe_mode
        await until(lambda: site.field.batteries["bat1"].p_kw > 90, 20, "battery at 100 kW")

        await first.close()  # the conductor stops: so does its heartbeat
        first.events.close()
        entry = await until(
            lambda: [s for s in site.watch.statuses if "heartbeat_age_s" in s],
            15,
            "the bridge's fail-safe status",
        )
        entered_s = time.monotonic()
        age_s = entry[0]["heartbeat_age_s"]
        # Measured by the bridge: last heartbeat -> safe default confirmed on the device.
        assert T_S <= age_s <= T_S + CYCLE_S, entry
        assert site.face.safe_mode and site.face.registers()[2] == 0  # safe default 0 kW
        await until(lambda: abs(site.field.batteries["bat1"].p_kw) < 1, 20, "battery at 0 kW")
        assert site.field.batteries["bat1"].setpoint_kw == 0.0

        second = site.conductor(db)  # the runtime's next start
        await second.connect()
        try:
            await until(
                lambda: (
                    reading(second, "safe_mode") == 1.0
                    and reading(second, "bridge_failsafe") == 1.0
                    and reading(second, "setpoint_readback_kw") == 0.0
                ),
                15,
                "the restarted runtime to see the battery in fail-safe at 0 kW",
            )
            # What it can count on is what the device holds, not its last dispatch.
            assert second.projections.setpoints["bat1"] == 100.0
            assert second.setpoints["bat1"] == 0.0
            # After the bridge's minimum hold, a fresh heartbeat and a new command bring
            # the battery back under the runtime's control.
            await until(lambda: time.monotonic() - entered_s >= 0.5, 5, "the minimum hold")
            await dispatch(second, 80.0, "after-restart")
            assert second.counts["verified"] == 1, second.counts
            assert not site.face.safe_mode and site.face.registers()[0] == 800
            assert site.ledger_keys() == [
                "demo-feeder-bat1-first",
                "demo-feeder-bat1-after-restart",
            ]
        finally:
            await second.close()
            second.events.close()


async def test_a_replayed_command_key_is_acked_duplicate_and_not_reapplied(
    tmp_path: Path, mosquitto: Broker
) -> None:
    async with bridged_site(tmp_path, mosquitto, min_hold_s=0.5) as site:
        conductor = site.conductor(tmp_path / "events.db")
        await conductor.connect()
        try:
            sink = conductor.sinks["bridge"]
            sent: list[ApprovedCommand] = []
            write = sink.write

            async def recording(approved: ApprovedCommand) -> SinkResult:
                sent.append(approved)
                return await write(approved)

            sink.write = recording  # type: ignore[method-assign]
            await dispatch(conductor, 120.0, "once")
            assert conductor.counts["verified"] == 1, conductor.counts
            device_writes = site.face.counts["writes"]
            battery_ledger = site.field.ledger("bat1")

            replay = await write(sent[0])  # the same key again, as an outbox retry sends it

            assert replay.status == "duplicate" and replay.verified, replay
            assert site.watch.counts()["duplicates"] == 1
            assert site.ledger_keys() == ["demo-feeder-bat1-once"]
            assert site.face.counts["writes"] == device_writes  # nothing written again
            assert site.field.ledger("bat1") == battery_ledger
            assert sink.counts["applied"] == 1 and sink.counts["duplicate"] == 1
        finally:
            await conductor.close()
            conductor.events.close()


def test_demo_bridge_refuses_a_bad_broker_address() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "demo", "--bridge", "--broker", "localhost"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 2
    assert "--broker 'localhost': give HOST:PORT" in result.stderr

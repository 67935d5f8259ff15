"""The hierarchy as integrators deploy it: every part a process of its own.

mosquitto, one virtual field per site (``gridaios sim field``), the controller
(``gridaios run --role controller``) and two site runtimes (``gridaios run --config``
with a ``hierarchy:`` block), configured from the repo's demo feeder and controller
files. The controller is SIGKILLed and started again, the broker restarts, and
everything is stopped with SIGTERM. The test looks only from the outside: the event
logs, the MQTT topics, the exit codes and stderr.

The fields run at 1x: their readings carry scenario time, and the scenario starts
when the test writes it, so the sites (on the wall clock) see them fresh. A faster
field would stamp its readings ahead of the sites' clocks, and the gate refuses
readings from the future. The demand is flat, so nothing waits on simulated time:
the test goes as fast as the hierarchy's (shortened) cadences.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from runtime.log.eventlog import Event, EventLog
from tests.support.mosquitto import Broker, free_port

REPO = Path(__file__).resolve().parents[2]
GRIDAIOS = str(Path(sys.executable).parent / "gridaios")
DEADLINE_S = 45.0  # generous for a loaded 2-core box; never a timing assertion

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Demand without storage at each site (base load + load1 - pv1, kW), and what the
# controller makes of it: feeder cap 2,050 kW, demand 2,350 kW: 300 kW to shed,
# 150 kW at each site (equal batteries). The local threshold (1,100 kW) alone asks
# north for 100 kW and south for 50 kW. Every step stays inside the demo battery's
# envelope (ramp 200 kW/min, deadband 15 kW) and under the auto-approval limit.
LOCAL_THRESHOLD_KW = 1100.0
FEEDER_CAP_KW = 2050.0
DEMAND_KW = {"north": 1200.0, "south": 1150.0}
CAP_KW = {"north": 1050.0, "south": 1000.0}
LOAD1_KW, PV1_KW = 150.0, 100.0


# --- configs, written from the repo's files ----------------------------------------


def scenario_yaml(path: Path, site: str, start: datetime) -> Path:
    base_kw = DEMAND_KW[site] - LOAD1_KW + PV1_KW
    flat = {"base_load": base_kw, "load1": LOAD1_KW, "pv1": PV1_KW}
    scenario = {
        "name": f"flat-{site}",
        "description": "constant demand from the test's start",
        "start": start.isoformat(),
        "duration_s": 3600,
        "step_s": 1,
        "seed": 7,
        "noise_pct": 0.0,
        "profiles": {name: [["00:00", kw]] for name, kw in flat.items()},
    }
    path.write_text(yaml.safe_dump(scenario))
    return path


def site_yaml(path: Path, site: str, opcua_port: int, broker: Broker) -> Path:
    """configs/demo-feeder.yaml as ``site``: its own field port, a decision every
    second, this test's dispatches auto-approved, and a hierarchy block."""
    config: dict[str, Any] = yaml.safe_load((REPO / "configs/demo-feeder.yaml").read_text())
    config["site"]["id"] = site
    config["feeder"]["network"] = str(REPO / "configs" / config["feeder"]["network"])
    config["sources"][0]["endpoint"] = f"opc.tcp://127.0.0.1:{opcua_port}/gridaios/field"
    config["policy"]["peak_shaving"]["cadence_s"] = 1
    config["approvals"].update(auto_approve_max_kw=200, two_person_min_kw=250)
    config["agents"]["peak_shaving"]["forecast"] = False  # the rule: one exact setpoint
    config["hierarchy"] = {
        "broker": {"host": broker.host, "port": broker.port, "allow_insecure": True},
        "controller_timeout_s": 3,
        "summary_every_s": 1,
        "known_policies": ["peak_shaving"],
        "known_models": {"forecast": ["persistence"]},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def controller_yaml(path: Path, broker: Broker) -> Path:
    config: dict[str, Any] = yaml.safe_load((REPO / "configs/controller.yaml").read_text())
    config["hierarchy"].update(
        broker={"host": broker.host, "port": broker.port, "allow_insecure": True},
        sites=sorted(DEMAND_KW),
        feeder_cap_kw=FEEDER_CAP_KW,
        cadence_s=1,
        cap_valid_s=4,
        heartbeat_s=0.5,
        summary_max_age_s=5,
    )
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# --- processes and what they leave behind ------------------------------------------


@dataclass
class Proc:
    name: str
    out: Path
    err: Path
    process: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def tail(self) -> str:
        out = self.out.read_text(errors="replace")[-1500:]
        return f"--- {self.name} stdout\n{out}\n--- {self.name} stderr\n{self.stderr()[-3000:]}"


@dataclass
class Rig:
    """The processes of one run; whatever is left is killed when it ends."""

    workdir: Path
    procs: list[Proc] = field(default_factory=list)
    expected_to_exit: set[str] = field(default_factory=set)

    def spawn(self, name: str, *args: str) -> Proc:
        out, err = self.workdir / f"{name}.out", self.workdir / f"{name}.err"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [GRIDAIOS, *args], stdout=stdout, stderr=stderr, cwd=REPO, env=env
            )
        self.procs.append(Proc(name, out, err, process))
        return self.procs[-1]

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.alive():
                proc.process.kill()
                proc.process.wait(timeout=10)

    def tails(self) -> str:
        return "\n".join(p.tail() for p in self.procs)

    def wait_for(self, condition: Callable[[], Any], what: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not condition():
            died = [p.name for p in self.procs if not p.alive()]
            if set(died) - self.expected_to_exit:
                raise AssertionError(f"{died} exited while waiting for {what}\n{self.tails()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.tails()}")
            time.sleep(0.1)


@contextmanager
def rig_in(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    try:
        yield rig
    finally:
        rig.kill_all()


class Log:
    """An event log read from outside, as `gridaios explain` reads a running site's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._log: EventLog | None = None

    def _open(self) -> EventLog | None:
        if self._log is None and self.path.exists():
            self._log = EventLog(self.path)
        return self._log

    def of(self, kind: str, after: int = 0) -> list[Event]:
        log = self._open()
        return [] if log is None else list(log.events(kinds=(kind,), after_seq=after))

    def last_seq(self) -> int:
        log = self._open()
        return 0 if log is None else log.head()[0]

    def verify(self) -> int | None:
        log = self._open()
        assert log is not None, f"no event log at {self.path}"
        return log.verify()

    def close(self) -> None:
        if self._log is not None:
            self._log.close()


def verified(log: Log, threshold_kw: float, after: int = 0) -> list[tuple[Event, Event]]:
    """(proposal, verification) of each dispatch decided against ``threshold_kw``."""
    done = {e.dispatch_id: e for e in log.of("dispatch.verified", after)}
    return [
        (p, done[p.dispatch_id])
        for p in log.of("dispatch.proposed", after)
        if p.payload["inputs"]["threshold_kw"] == threshold_kw and p.dispatch_id in done
    ]


def applied(log: Log, cap_kw: float) -> bool:
    return any(e.payload["cap_kw"] == cap_kw for e in log.of("hierarchy.cap_applied"))


def serving(proc: Proc) -> bool:
    return "virtual field:" in proc.out.read_text()


class Wire:
    """Every message on ``gridaios/#``, as another client of the broker sees them;
    subscribed again after each reconnect (the broker may restart)."""

    def __init__(self, broker: Broker) -> None:
        self._received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id="e2e-observer")
        self._client.on_connect = self._connected
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._message
        self._client.reconnect_delay_set(min_delay=1, max_delay=2)
        self._client.connect(broker.host, broker.port, 30)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("the observer's subscription to gridaios/# was not confirmed")

    def _connected(self, client: paho.Client, *_: Any) -> None:
        client.subscribe("gridaios/#", qos=1)

    def _message(self, _c: Any, _u: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self._received.append((message.topic, bytes(message.payload)))

    def mark(self) -> int:
        with self._lock:
            return len(self._received)

    def on(self, topic: str, after: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(p) for t, p in self._received[after:] if t == topic]

    def at_cap(self, site: str, after: int = 0) -> bool:
        """Has ``site`` reported following its cap with its import at (or under) it?"""
        return any(
            s["mode"] == "coordinated"
            and s["cap_kw"] == CAP_KW[site]
            and s["net_kw"] <= CAP_KW[site] + 1.0
            for s in self.on(f"gridaios/v1/{site}/summary", after)
        )

    def on_its_own(self, site: str, after: int = 0) -> bool:
        return any(
            s["mode"] == "local" and s["cap_kw"] is None
            for s in self.on(f"gridaios/v1/{site}/summary", after)
        )

    def capped(self, site: str, after: int = 0) -> bool:
        caps = self.on(f"gridaios/v1/{site}/cap", after)
        return CAP_KW[site] in {c["cap_kw"] for c in caps}

    def controller_offline(self, after: int = 0) -> bool:
        beats = self.on("gridaios/v1/controller/heartbeat", after)
        return any(h["state"] == "offline" for h in beats)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


# --- the test ------------------------------------------------------------------------


def test_site_runtimes_follow_the_controller_process_lose_it_and_follow_it_again(
    mosquitto: Broker, tmp_path: Path
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    logs = {site: Log(tmp_path / f"{site}.db") for site in DEMAND_KW}
    ctl_log = Log(tmp_path / "controller.db")
    wire = Wire(mosquitto)
    try:
        with rig_in(tmp_path) as rig:
            exercise(rig, start, logs, ctl_log, wire, mosquitto, tmp_path)
    finally:
        wire.close()
        for log in (*logs.values(), ctl_log):
            log.close()


def exercise(
    rig: Rig,
    start: datetime,
    logs: dict[str, Log],
    ctl_log: Log,
    wire: Wire,
    broker: Broker,
    tmp_path: Path,
) -> None:
    fields: dict[str, Proc] = {}
    for site in DEMAND_KW:
        scenario = scenario_yaml(tmp_path / f"{site}-scenario.yaml", site, start)
        config = site_yaml(tmp_path / f"{site}.yaml", site, free_port(), broker)
        fields[site] = rig.spawn(
            f"{site}-field",
            *("sim", "field", "--config", str(config), "--scenario", str(scenario)),
            *("--speed", "1"),
        )
    for site, f in fields.items():
        rig.wait_for(partial(serving, f), f"{site}'s field")
    sites = [
        rig.spawn(
            site,
            *("-v", "run", "--config", str(tmp_path / f"{site}.yaml")),
            *("--db", str(tmp_path / f"{site}.db")),
        )
        for site in DEMAND_KW
    ]
    ctl_config = controller_yaml(tmp_path / "controller.yaml", broker)
    ctl_args = ["-v", "run", "--role", "controller", "--config", str(ctl_config)]
    ctl_args += ["--db", str(tmp_path / "controller.db")]
    controller = rig.spawn("controller", *ctl_args)

    # 1. Each site takes its cap and dispatches against it: the battery discharges
    #    what the demand exceeds the cap by, and the site's import is then at the cap.
    for site, log in logs.items():
        rig.wait_for(partial(applied, log, CAP_KW[site]), f"{site} applying its cap")
        rig.wait_for(partial(verified, log, CAP_KW[site]), f"{site} dispatching against it")
        proposal, done = verified(log, CAP_KW[site])[0]
        assert proposal.payload["inputs"]["uncontrolled_kw"] == DEMAND_KW[site]
        assert done.payload["value"] == DEMAND_KW[site] - CAP_KW[site]
    for site in DEMAND_KW:
        rig.wait_for(partial(wire.at_cap, site), f"{site} reporting its import at the cap")
        assert wire.capped(site)

    # 2. SIGKILL the controller: the broker sends its last will; each site records the
    #    loss, goes back to its own threshold and keeps dispatching inside its envelope.
    marks = {site: log.last_seq() for site, log in logs.items()}
    on_wire = wire.mark()
    rig.expected_to_exit.add("controller")
    controller.process.send_signal(signal.SIGKILL)
    assert controller.process.wait(timeout=30) == -signal.SIGKILL
    rig.wait_for(partial(wire.controller_offline, on_wire), "the controller's last will")
    for site, log in logs.items():
        lost = partial(log.of, "hierarchy.controller_lost", marks[site])
        rig.wait_for(lost, f"{site} recording the lost controller")
        (loss,) = lost()
        assert "went offline" in loss.payload["reason"]
        assert loss.payload["threshold_kw"] == LOCAL_THRESHOLD_KW
        local = partial(verified, log, LOCAL_THRESHOLD_KW, marks[site])
        rig.wait_for(local, f"{site} dispatching on its own")
        _, done = local()[0]
        assert done.payload["value"] == DEMAND_KW[site] - LOCAL_THRESHOLD_KW
        rig.wait_for(partial(wire.on_its_own, site, on_wire), f"{site} reporting it is alone")

    # 3. The controller comes back: caps resume, and the sites dispatch against them.
    marks = {site: log.last_seq() for site, log in logs.items()}
    controller = rig.spawn("controller-again", *ctl_args)
    for site, log in logs.items():
        back = partial(log.of, "hierarchy.controller_back", marks[site])
        rig.wait_for(back, f"{site} following the controller again")
        assert back()[0].payload["cap_kw"] == CAP_KW[site]
        rig.wait_for(
            partial(verified, log, CAP_KW[site], marks[site]),
            f"{site} dispatching against its cap again",
        )
    # Nothing in the whole run needed the gate to step in, and no cap was refused.
    for site, log in logs.items():
        assert {e.payload["outcome"] for e in log.of("dispatch.gated")} == {"accepted"}, site
        assert not log.of("hierarchy.cap_rejected"), site

    # 4. The broker restarts (its retained messages gone): every process reconnects,
    #    the controller sends caps again, and each site follows its cap, its import
    #    back at it. Whether a site noticed the gap (the broker's shutdown may send the
    #    controller's last will) is the broker's business; where it ends up is checked.
    broker.start_again()
    on_wire = wire.mark()
    for site in DEMAND_KW:
        rig.wait_for(partial(wire.capped, site, on_wire), f"a cap for {site} after the restart")
    on_wire = wire.mark()
    for site in DEMAND_KW:
        rig.wait_for(partial(wire.at_cap, site, on_wire), f"{site} at its cap after the restart")

    # 5. SIGTERM everything at once (a box shutting down): each process says goodbye
    #    where it has one to say, and exits 0 without a traceback.
    on_wire = wire.mark()
    everything = [*sites, controller, *fields.values()]
    rig.expected_to_exit.update(p.name for p in everything)
    for proc in everything:
        proc.process.send_signal(signal.SIGTERM)
    for proc in everything:
        code = proc.process.wait(timeout=60)
        assert code == 0, f"{proc.name} exited {code}\n{proc.tail()}"
        assert "Traceback" not in proc.stderr(), proc.tail()
    for site, log in logs.items():
        assert log.of("runtime.stopped")[-1].payload["reason"] == "signal: drained"
        assert log.verify() is None
        statuses = wire.on(f"gridaios/v1/{site}/conductor/status", on_wire)
        assert statuses and statuses[-1]["state"] == "offline", site
    assert wire.on("gridaios/v1/controller/heartbeat", on_wire)[-1]["state"] == "offline"
    allocated = [e.payload["caps"] for e in ctl_log.of("hierarchy.caps_allocated")]
    assert CAP_KW in allocated

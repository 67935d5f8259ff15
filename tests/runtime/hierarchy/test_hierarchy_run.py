"""A controller (subprocess) and two conductors on a real mosquitto: caps, loss, return.

The conductors are the real ``Conductor`` (policy, gate, twin, event log) fed a
scripted site state; what they exchange with the controller goes over MQTT. The
controller is killed with SIGKILL mid-run and started again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import count
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.conductor.loop import Conductor
from runtime.config.model import SiteConfig
from runtime.core.clock import WallClock
from runtime.demo.hierarchy import feed, scripted_config
from runtime.hierarchy.follow import Mode
from runtime.log.eventlog import Event, EventLog
from tests.support.mosquitto import Broker

REPO = Path(__file__).resolve().parents[3]
TIMEOUT_S = 2.0  # the conductors' controller_timeout_s
DEADLINE_S = 30.0  # generous: a loaded CI box, never a timing assertion

pytestmark = pytest.mark.integration

# Demand without storage at each site (kW), and what the controller must make of it:
# feeder cap 1800 kW, demand 2150 kW: 350 kW to shed, shared by flexibility
# (250 kW of battery at each site): north 1250 - 175 = 1075, south 900 - 175 = 725.
LOAD_KW = {"north": 1250.0, "south": 900.0}
CAP_KW = {"north": 1075.0, "south": 725.0}
LOCAL_THRESHOLD_KW = 1100.0


@dataclass
class Site:
    name: str
    conductor: Conductor
    events: EventLog

    def threshold_kw(self) -> float:
        link = self.conductor.link
        assert link is not None
        return link.threshold_kw(self.conductor.config.policy.peak_shaving)

    def mode(self) -> Mode:
        assert self.conductor.link is not None
        return self.conductor.link.mode

    def obeying_cap(self) -> bool:
        return self.mode() is Mode.COORDINATED and self.threshold_kw() == CAP_KW[self.name]

    def on_its_own(self) -> bool:
        return self.mode() is Mode.LOCAL

    def of(self, kind: str, after: int = 0) -> list[Event]:
        return list(self.events.events(kinds=(kind,), after_seq=after))

    def last_seq(self) -> int:
        return max((e.seq for e in self.events.events()), default=0)

    def proposed_at(self, threshold_kw: float, after: int = 0) -> list[Event]:
        return [
            e
            for e in self.of("dispatch.proposed", after)
            if e.payload["inputs"]["threshold_kw"] == threshold_kw
        ]

    def planned_at(self, threshold_kw: float, after: int = 0) -> bool:
        """A cycle since ``after`` planned against ``threshold_kw``: a new proposal, or the
        same plan reconfirming a request still pending from before (approvals.pending)."""
        if self.proposed_at(threshold_kw, after):
            return True
        expected_kw = LOAD_KW[self.name] - threshold_kw
        for e in self.of("approval.reconfirmed", after):
            if e.payload["proposed_kw"] != expected_kw:
                continue
            pending = self.events.events(dispatch_id=e.dispatch_id, kinds=("dispatch.proposed",))
            if any(p.payload["inputs"]["threshold_kw"] == threshold_kw for p in pending):
                return True
        return False


def site_config(name: str, broker: Broker) -> SiteConfig:
    hierarchy = {
        "broker": {"host": broker.host, "port": broker.port, "allow_insecure": True},
        "controller_timeout_s": TIMEOUT_S,
        "known_policies": ["peak_shaving"],
        "known_models": {"forecast": ["persistence"]},
    }
    return scripted_config(name, hierarchy, cadence_s=1.0)


def controller_yaml(path: Path, broker: Broker) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "hierarchy": {
                    "role": "controller",
                    "broker": {"host": broker.host, "port": broker.port, "allow_insecure": True},
                    "sites": ["north", "south"],
                    "feeder_cap_kw": 1800,
                    "cadence_s": 0.5,
                    "cap_valid_s": 3,
                    "heartbeat_s": 0.3,
                    "summary_max_age_s": 5,
                    "policy": {"policy": "peak_shaving", "models": {"forecast": "persistence"}},
                    "site_policies": {
                        "south": {"policy": "peak_shaving", "models": {"forecast": "lstm-9"}}
                    },
                }
            }
        )
    )
    return path


@contextmanager
def controller(config: Path, db: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    out = log.open("ab")
    cmd = [sys.executable, "-m", "runtime.cli", "-v", "run", "--role", "controller"]
    process = subprocess.Popen(
        [*cmd, "--config", str(config), "--db", str(db)],
        stdout=out,
        stderr=out,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        out.close()


@asynccontextmanager
async def running_site(name: str, broker: Broker, tmp_path: Path) -> AsyncIterator[Site]:
    clock = WallClock()
    events = EventLog(tmp_path / f"{name}.db")
    conductor = Conductor(site_config(name, broker), events, clock)
    assert conductor.link is not None
    seq = count()

    async def field() -> None:
        while True:
            feed(conductor, clock, LOAD_KW[name], seq)
            await asyncio.sleep(0.2)

    feed(conductor, clock, LOAD_KW[name], seq)
    conductor.link.start()
    tasks = [
        asyncio.create_task(field()),
        asyncio.create_task(conductor.link.watch(conductor.state.snapshot, tick_s=0.1)),
        asyncio.create_task(conductor.run(tick_s=0.05)),
    ]
    try:
        yield Site(name, conductor, events)
    finally:
        conductor.request_stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await conductor.link.close()
        events.close()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


async def wait_for(predicate: Callable[[], Any], what: str, log: Path | None = None) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not predicate():
        if loop.time() > deadline:
            tail = _tail(log) if log is not None else ""
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        await asyncio.sleep(0.05)


async def test_sites_obey_caps_fall_back_when_the_controller_dies_and_follow_it_again(
    mosquitto: Broker, tmp_path: Path
) -> None:
    ctl_config = controller_yaml(tmp_path / "controller.yaml", mosquitto)
    ctl_db, ctl_log = tmp_path / "controller.db", tmp_path / "controller.log"
    async with (
        running_site("north", mosquitto, tmp_path) as north,
        running_site("south", mosquitto, tmp_path) as south,
    ):
        sites = (north, south)
        with controller(ctl_config, ctl_db, ctl_log) as process:
            # 1. Caps arrive; each site proposes against its own cap.
            for s in sites:
                await wait_for(s.obeying_cap, f"{s.name} obeying its cap", ctl_log)
                await wait_for(partial(s.proposed_at, CAP_KW[s.name]), f"{s.name} proposal")
            for s in sites:
                proposal = s.proposed_at(CAP_KW[s.name])[-1].payload
                assert proposal["command"]["value"] == LOAD_KW[s.name] - CAP_KW[s.name]
                assert s.of("hierarchy.cap_applied")[-1].payload["cap_kw"] == CAP_KW[s.name]
            # Policy pushes: known versions are taken, an unknown model version is refused.
            await wait_for(lambda: north.of("hierarchy.policy_accepted"), "north's push")
            assert north.conductor.link is not None and south.conductor.link is not None
            assert north.conductor.link.in_use.models == {"forecast": "persistence"}
            await wait_for(lambda: south.of("hierarchy.policy_rejected"), "south's refusal")
            refusal = south.of("hierarchy.policy_rejected")[-1].payload
            assert "lstm-9" in refusal["reason"] and "lstm-9" in refusal["raw"]
            assert south.conductor.link.counts["policies_rejected"] >= 1
            assert not south.of("hierarchy.policy_accepted")

            # 2. The controller dies without a word.
            marks = {s.name: s.last_seq() for s in sites}
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        for s in sites:
            await wait_for(s.on_its_own, f"{s.name} back on its own")
            assert s.threshold_kw() == LOCAL_THRESHOLD_KW
            (lost,) = s.of("hierarchy.controller_lost", marks[s.name])
            assert lost.payload["threshold_kw"] == LOCAL_THRESHOLD_KW
        # It keeps operating inside its own config: north (above 1,100 kW) proposes
        # against the local threshold; south (below it) keeps cycling and reporting.
        await wait_for(
            lambda: north.proposed_at(LOCAL_THRESHOLD_KW, marks["north"]), "a local proposal"
        )
        local = north.proposed_at(LOCAL_THRESHOLD_KW, marks["north"])[-1].payload
        assert local["command"]["value"] == LOAD_KW["north"] - LOCAL_THRESHOLD_KW
        gated = north.of("dispatch.gated", marks["north"])
        assert gated and all(e.payload["outcome"] != "rejected" for e in gated)
        assert not south.proposed_at(CAP_KW["south"], south.last_seq())
        assert south.conductor.link is not None
        reported = south.conductor.link.counts["summaries"]
        await wait_for(
            lambda: (
                south.conductor.link is not None
                and south.conductor.link.counts["summaries"] > reported + 2
            ),
            "south still cycling",
        )

        # 3. The controller comes back: caps resume (its seq continues above the old one).
        marks = {s.name: s.last_seq() for s in sites}
        with controller(ctl_config, ctl_db, ctl_log) as process:
            for s in sites:
                await wait_for(
                    s.obeying_cap,
                    f"{s.name} following its cap again",
                )
                (back,) = s.of("hierarchy.controller_back", marks[s.name])
                assert back.payload["cap_kw"] == CAP_KW[s.name]
                await wait_for(
                    partial(s.planned_at, CAP_KW[s.name], back.seq),
                    f"{s.name} proposing against its cap again",
                )
            assert not north.of("hierarchy.cap_rejected")

            # 4. A graceful stop (SIGTERM) says goodbye: the sites fall back at once.
            marks = {s.name: s.last_seq() for s in sites}
            process.terminate()
            assert process.wait(timeout=30) == 0, _tail(ctl_log)
            for s in sites:
                await wait_for(s.on_its_own, f"{s.name} told the controller stopped")
                (lost,) = s.of("hierarchy.controller_lost", marks[s.name])
                assert "went offline" in lost.payload["reason"]
    allocated = EventLog(ctl_db)
    try:
        caps = [e.payload["caps"] for e in allocated.events(kinds=("hierarchy.caps_allocated",))]
    finally:
        allocated.close()
    assert CAP_KW in caps


async def test_a_silent_controller_is_noticed_by_its_missing_heartbeat(
    mosquitto: Broker, tmp_path: Path
) -> None:
    """SIGSTOP: the connection stays up (no last will), only the heartbeats stop."""
    ctl_config = controller_yaml(tmp_path / "controller.yaml", mosquitto)
    ctl_db, ctl_log = tmp_path / "controller.db", tmp_path / "controller.log"
    async with (
        running_site("north", mosquitto, tmp_path) as north,
        running_site("south", mosquitto, tmp_path) as south,
    ):
        with controller(ctl_config, ctl_db, ctl_log) as process:
            for s in (north, south):
                await wait_for(s.obeying_cap, f"{s.name} obeying its cap", ctl_log)
            marks = {s.name: s.last_seq() for s in (north, south)}
            process.send_signal(signal.SIGSTOP)
            try:
                for s in (north, south):
                    await wait_for(s.on_its_own, f"{s.name} noticing the silence")
                    (lost,) = s.of("hierarchy.controller_lost", marks[s.name])
                    assert "no controller heartbeat for" in lost.payload["reason"]
                    assert s.threshold_kw() == LOCAL_THRESHOLD_KW
            finally:
                process.send_signal(signal.SIGCONT)
            for s in (north, south):
                await wait_for(s.obeying_cap, f"{s.name} following again", ctl_log)
                assert s.of("hierarchy.controller_back", marks[s.name])

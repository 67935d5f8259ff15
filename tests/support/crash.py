"""Crash campaign: `gridaios run` in a subprocess, SIGKILLed at random points, restarted.

The device side is ``LedgerDevice`` behind a real OPC UA endpoint. After the last
(graceful) run, ``check`` compares the device's ledger with the event log:
zero lost (every durably approved command applied), zero duplicated (no key applied
twice), nothing sent without a durable record first, chain intact.

Used by tests/integration/test_crash.py (50 kills) and tests/soak/crash_soak.py (1,000).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.ledger_device import LedgerDevice

SITE_YAML = """
site: {{id: crash, name: crash test site}}
feeder: {{meter: substation, transformer_rating_kw: 5000}}
sources:
  - {{id: dev, type: opcua, endpoint: "{endpoint}", security: none, allow_insecure: true,
     publishing_interval_ms: 50}}
assets:
  - id: substation
    type: meter
    points:
      p_kw: {{source: dev, node: "ns=2;s=substation.p_kw", unit: kW}}
  - id: bat1
    type: battery
    capacity_kwh: 100000
    max_charge_kw: 250
    max_discharge_kw: 250
    soc_min_pct: 5
    soc_max_pct: 95
    points:
      soc_pct: {{source: dev, node: "ns=2;s=bat1.soc_pct", unit: "%"}}
      p_kw: {{source: dev, node: "ns=2;s=bat1.p_kw", unit: kW}}
      p_setpoint_kw: {{source: dev, node: "ns=2;s=bat1.p_setpoint_kw", unit: kW, writable: true}}
      cmd_key: {{source: dev, node: "ns=2;s=bat1.cmd_key", writable: true}}
      cmd_key_applied: {{source: dev, node: "ns=2;s=bat1.cmd_key_applied"}}
policy:
  peak_shaving: {{battery: bat1, threshold_kw: 1100, cadence_s: 1, deadband_kw: 5,
                 command_duration_s: 3600}}
approvals: {{auto_approve_max_kw: 1000, two_person_min_kw: 1000, expiry_s: 900}}
safety: {{max_age_s: 60, policies: {{limit.max: clamp, limit.min: clamp, soc.window: clamp}}}}
"""


@dataclass
class CampaignReport:
    kills: int = 0
    kills_in_flight: int = 0
    approved: list[str] = field(default_factory=list)
    verified: set[str] = field(default_factory=set)
    ledger_keys: list[str] = field(default_factory=list)
    key_writes: dict[str, int] = field(default_factory=dict)
    resumed: int = 0
    chain_broken_at: int | None = None
    final_exit: int | None = None
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        resent = sum(n - 1 for n in self.key_writes.values() if n > 1)
        return (
            f"kills={self.kills} (with a command in flight: {self.kills_in_flight}) "
            f"approved={len(self.approved)} verified={len(self.verified)} "
            f"applied={len(self.ledger_keys)} resumed={self.resumed} re-sent writes={resent} "
            f"problems={len(self.problems)}"
        )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Campaign:
    def __init__(self, workdir: Path, *, seed: int = 7) -> None:
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.endpoint = f"opc.tcp://127.0.0.1:{free_port()}/crash"
        self.device = LedgerDevice(self.endpoint, seed=seed)
        self.config = workdir / "site.yaml"
        self.db = workdir / "events.db"
        self.health = workdir / "health.json"
        self.report = CampaignReport()

    def __enter__(self) -> Campaign:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(SITE_YAML.format(endpoint=self.endpoint))
        self.device.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.device.stop()

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        gridaios = str(Path(sys.executable).parent / "gridaios")
        cmd = [gridaios, "run", "--config", str(self.config)]
        cmd += ["--db", str(self.db), "--auto-approve", "--health-file", str(self.health)]
        log = (self.workdir / "runtime.log").open("ab")
        return subprocess.Popen(cmd, stdout=log, stderr=log, env=env)

    def _count(self, kind: str) -> int:
        if not self.db.exists():
            return 0
        with sqlite3.connect(self.db, timeout=30) as db:
            try:
                return int(
                    db.execute("SELECT count(*) FROM events WHERE kind = ?", (kind,)).fetchone()[0]
                )
            except sqlite3.OperationalError:
                return 0

    def _in_flight(self) -> bool:
        """Does the log show an approved command without a terminal event yet?"""
        if not self.db.exists():
            return False
        with sqlite3.connect(self.db, timeout=30) as db:
            row = db.execute(
                "SELECT dispatch_id FROM events WHERE kind = 'dispatch.approved'"
                " ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return False
            done = db.execute(
                "SELECT 1 FROM events WHERE dispatch_id = ? AND kind IN"
                " ('dispatch.verified','dispatch.expired','dispatch.dead_lettered')",
                (row[0],),
            ).fetchone()
            return done is None

    def _wait(self, condition: object, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise TimeoutError(f"crash campaign: {what} within {timeout_s:g} s")
            time.sleep(0.01)

    def _health_ok(self) -> bool:
        try:
            return bool(json.loads(self.health.read_text())["status"] == "ok")
        except (OSError, ValueError, KeyError):
            return False

    def kill_once(self) -> None:
        """Start the runtime, SIGKILL it at a random point, wait for it to be gone."""
        ready_before = self._count("runtime.ready")
        proc = self._spawn()
        try:
            mode = self.rng.random()
            if mode < 0.2:
                time.sleep(self.rng.uniform(0.0, 1.5))  # during start-up or resume
            else:
                self._wait(
                    lambda: self._count("runtime.ready") > ready_before or proc.poll() is not None,
                    60,
                    "runtime ready",
                )
                if mode < 0.6:  # while a command is between durable record and verification
                    self._wait(
                        lambda: self._in_flight() or proc.poll() is not None, 30, "a dispatch"
                    )
                    time.sleep(self.rng.uniform(0.0, 0.1))
                else:
                    time.sleep(self.rng.uniform(0.0, 1.2))  # anywhere in the cycle
            in_flight = self._in_flight()
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        if proc.returncode != -signal.SIGKILL:
            self.report.problems.append(f"runtime exited {proc.returncode} before the kill")
        self.report.kills += 1
        self.report.kills_in_flight += int(in_flight)

    def finish(self, *, settle_verified: int = 3) -> CampaignReport:
        """One last run: resume, make a few more dispatches, then drain with SIGTERM."""
        verified_before = self._count("dispatch.verified")
        ready_before = self._count("runtime.ready")
        proc = self._spawn()
        try:
            self._wait(lambda: self._count("runtime.ready") > ready_before, 60, "final ready")
            self._wait(lambda: self._health_ok(), 60, "health status ok")
            self._wait(
                lambda: self._count("dispatch.verified") >= verified_before + settle_verified,
                60,
                "new dispatches after the last restart",
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            self.report.final_exit = proc.wait(60)
        time.sleep(self.device.scan_s * 2)  # the device's scan sees the last write
        return self.check()

    def check(self) -> CampaignReport:
        from runtime.log.eventlog import EventLog

        r = self.report
        log = EventLog(self.db)
        try:
            r.chain_broken_at = log.verify()
            from runtime.log.dispatch import Projections

            still_open = sorted(Projections.load(log).open)
            if still_open:
                r.problems.append(f"open after a graceful stop: {still_open[:5]}")
            states: dict[str, str] = {}
            for e in log.events():
                if e.dispatch_id is None:
                    continue
                if e.kind == "dispatch.approved":
                    r.approved.append(e.dispatch_id)
                if e.kind == "dispatch.resumed":
                    r.resumed += 1
                if e.kind.startswith("dispatch.") or e.kind.startswith("approval."):
                    states[e.dispatch_id] = e.kind
        finally:
            log.close()
        ledger, r.key_writes = self.device.snapshot()
        r.ledger_keys = [a.key for a in ledger]
        r.verified = {d for d in r.approved if states.get(d) == "dispatch.verified"}
        applied = Counter(r.ledger_keys)
        for key, n in applied.items():
            if n > 1:
                r.problems.append(f"duplicated: device applied {key} {n} times")
        approved = set(r.approved)
        for key in applied:
            if key not in approved:
                r.problems.append(f"sent without a durable record: device applied {key}")
        for key in r.approved:
            if applied[key] == 0:
                r.problems.append(f"lost: {key} approved ({states.get(key)}) never applied")
            elif key not in r.verified:
                r.problems.append(f"{key} applied but its last event is {states.get(key)}")
        if r.ledger_keys != [k for k in r.approved if applied[k]]:
            r.problems.append("device applied commands in a different order than approved")
        if r.chain_broken_at is not None:
            r.problems.append(f"event log chain broken at record {r.chain_broken_at}")
        if r.final_exit != 0:
            r.problems.append(f"graceful stop exited {r.final_exit}, expected 0")
        return r

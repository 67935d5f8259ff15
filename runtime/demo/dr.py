"""``gridaios demo --scenario dr-event``: a DR event from a utility's VTN, end to end.

A VTN process (openleadr's ``OpenADRServer``, ``runtime.demo.dr_vtn``) registers the
site's VEN and, once the virtual field runs, sends a ``LOAD_DISPATCH`` event (feeder
import at most ``TARGET_KW`` from 17:45 to 18:45 site time) in a program that names a
shortfall penalty, so the opt-in needs an operator: ``--auto-approve`` stands in for
them, otherwise ``gridaios approvals approve dr-optin-...`` (or the console) decides
before the program's response deadline. The opted-in event goes to the DR agent, whose
dispatches pass the gate, the twin and approvals like any other; the VEN reports the
feeder meter to the VTN. After the run, ``runtime.audit.dr_report`` measures the delivery
against a 10-of-10 baseline with a same-day adjustment, from 14 earlier days of the
feeder's no-action load (the twin's, seeded into the historian) and the day's meter.

The site runs on the demo's accelerated clock and the VTN in wall time: the VEN maps the
VTN's times to site time (``DemoClock.from_wall``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runtime.approvals import book as approvals
from runtime.audit import dr_report
from runtime.conductor.loop import Conductor
from runtime.config import site
from runtime.config.model import SiteConfig
from runtime.config.openadr import BaselineConfig, OpenAdrConfig, ProgramConfig
from runtime.demo.feeder import ClockFromStart, free_port, together, with_endpoint
from runtime.ingest.historian import Historian
from runtime.log.eventlog import EventLog
from simulator import Scenario, VirtualField

PROGRAM = "oadr://utility/summer-peak"
EVENT_ID = "summer-peak-0715"
EVENT_AT = timedelta(hours=2, minutes=15)  # after the scenario's start: 17:45
EVENT_FOR = timedelta(hours=1)
TARGET_KW = 1050.0
VEN_ID = "ven-demo-feeder"
OPERATOR = "demo-operator"


class DemoClock(ClockFromStart):
    """The demo's accelerated site clock, and the map from wall time to it."""

    def __init__(self, start: datetime, speed: float) -> None:
        super().__init__(start, speed)
        self.wall0: datetime | None = None

    def begin(self) -> None:
        super().begin()
        self.wall0 = datetime.now(UTC)

    def from_wall(self, t: datetime) -> datetime:
        wall0 = self.wall0 or datetime.now(UTC)
        return self.start + (t - wall0) * self.speed

    def to_wall(self, t: datetime) -> datetime:
        wall0 = self.wall0 or datetime.now(UTC)
        return wall0 + (t - self.start) / self.speed


def dr_config(config: SiteConfig, vtn_port: int) -> SiteConfig:
    oadr = OpenAdrConfig(
        vtn_url=f"http://127.0.0.1:{vtn_port}/OpenADR2/Simple/2.0b",
        ven_id=VEN_ID,
        ven_name=config.site.id,
        allow_insecure=True,  # a local demo VTN on 127.0.0.1 over http, unsigned
        programs=[
            ProgramConfig(
                name=PROGRAM,
                baseline=BaselineConfig(x=10, y=10, adjust_hours=2, interval_s=900),
                opt_in_default="opt_out",
                response_deadline_s=1800,
                penalty_per_kwh=0.5,
            )
        ],
        report_sampling_s=2,
    )
    agents = config.agents.model_copy(
        update={"dr_events": config.agents.dr_events.model_copy(update={"enabled": True})}
    )
    return config.model_copy(update={"openadr": oadr, "agents": agents})


def seed_history(
    historian: Historian, field_: VirtualField, scenario: Scenario, point: str, days: int = 14
) -> int:
    """Earlier days of the feeder's no-action load (the twin's), one sample a minute."""
    net = field_.baseline_net_kw()
    times = scenario.times()
    every = max(int(60 // scenario.step_s), 1)
    n = 0
    for back in range(1, days + 1):
        factor = 0.9 + 0.02 * (back % 6)  # day-to-day variation, deterministic
        shift = timedelta(days=back)
        for i in range(0, len(times), every):
            historian.add(point, times[i] - shift, net[i] * factor)
            n += 1
    historian.flush()
    return n


@dataclass
class DrDemoResult:
    vtn: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    accepted: int = 0
    dispatches: dict[str, int] = field(default_factory=dict)
    mv: dict[str, Any] | None = None
    mv_text: str = ""
    mv_error: str | None = None
    event_log: str = ""
    wall_seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "event_id": EVENT_ID,
            "vtn_opt": [m["opt"] for m in self.vtn if "opt" in m],
            "vtn_reports": sum(1 for m in self.vtn if "report" in m),
            "registered": any("registered" in m for m in self.vtn),
            "decisions": self.decisions,
            "accepted_dr_events": self.accepted,
            "dispatches": self.dispatches,
            "mv": self.mv,
            "mv_error": self.mv_error,
            "event_log": self.event_log,
            "wall_seconds": round(self.wall_seconds, 1),
        }


async def _vtn_lines(proc: asyncio.subprocess.Process, out: list[dict[str, Any]]) -> None:
    assert proc.stdout is not None
    while line := await proc.stdout.readline():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))


async def run_dr_demo(
    *,
    config: SiteConfig,
    scenario: Scenario,
    db_path: Path,
    speed: float,
    duration_s: float | None,
    auto_approve: bool,
    say: Any = print,
) -> DrDemoResult:
    result = DrDemoResult(event_log=str(db_path))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runtime.demo.dr_vtn",
        "--port",
        str(port),
        "--ven-id",
        VEN_ID,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    reader = asyncio.create_task(_vtn_lines(proc, result.vtn))
    try:
        for _ in range(600):
            if any("ready" in m for m in result.vtn) or proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
        if not any("ready" in m for m in result.vtn):
            raise RuntimeError("the demo VTN did not start (python -m runtime.demo.dr_vtn)")
        say(f"VTN (openleadr OpenADRServer) listening on 127.0.0.1:{port}, pid {proc.pid}")
        config = dr_config(config, port)
        endpoint = f"opc.tcp://127.0.0.1:{free_port()}/gridaios/field"
        config = with_endpoint(config, endpoint)
        clock = DemoClock(scenario.start, speed)
        end = scenario.start + timedelta(
            seconds=min(duration_s or scenario.duration_s, scenario.duration_s)
        )
        field_ = VirtualField(site.field_spec(config), scenario, clock, endpoint)
        events = EventLog(db_path)
        historian = Historian(db_path.with_name(f"{db_path.stem}-history"))
        meter = site.point_id(config.feeder.meter, "p_kw")
        seed_history(historian, field_, scenario, meter)
        conductor = Conductor(config, events, clock, auto_approve=auto_approve, historian=historian)
        await field_.start()
        clock.begin()
        start = clock.to_wall(scenario.start + EVENT_AT)
        spec = {
            "event_id": EVENT_ID,
            "start": start.isoformat(),
            "minutes": EVENT_FOR.total_seconds() / 60 / speed,
            "target_kw": TARGET_KW,
            "program": PROGRAM,
        }
        assert proc.stdin is not None
        proc.stdin.write((json.dumps(spec) + "\n").encode())
        await proc.stdin.drain()
        say(
            f"VTN sends event {EVENT_ID}: feeder import <= {TARGET_KW:.0f} kW, "
            f"{(scenario.start + EVENT_AT):%H:%M}-{(scenario.start + EVENT_AT + EVENT_FOR):%H:%M} "
            "site time; program names a penalty: the opt-in needs an operator"
        )

        async def conduct() -> None:
            await conductor.connect()
            await conductor.run(until=end)

        async def operator() -> None:
            while clock() < end:
                for p in approvals.pending(events):
                    if p.dispatch_id.startswith("dr-optin-") and not p.approvers:
                        if auto_approve:
                            approvals.approve(
                                events,
                                p.dispatch_id,
                                OPERATOR,
                                "demo: --auto-approve",
                                clock(),
                                plan_hash=p.plan_hash,
                            )
                            say(f"opt-in {p.dispatch_id} approved by {OPERATOR}")
                        elif p.dispatch_id not in asked:
                            asked.add(p.dispatch_id)
                            say(
                                f"opt-in awaits you: gridaios approvals --db {db_path} "
                                f"approve {p.dispatch_id} --user YOU"
                            )
                await asyncio.sleep(0.2)

        asked: set[str] = set()
        try:
            await together(field_.run(until=end), conduct(), operator())
        finally:
            await conductor.close()
            await field_.stop()
        result.dispatches = {
            k: conductor.counts.get(k, 0)
            for k in ("proposed", "approved", "sent", "verified", "rejected")
        }
        result.decisions = [dict(e.payload) for e in events.events(kinds=("dr.optin.decided",))]
        result.accepted = sum(
            1
            for e in events.events(kinds=("agent.dr_event_accepted",))
            if str(e.payload.get("event_id", "")).startswith(EVENT_ID)
        )
        try:
            window, mv = dr_report.report(events, EVENT_ID, config=config, history=historian)
            result.mv = dr_report.as_json(window, mv)
            result.mv_text = dr_report.as_text(window, mv)
        except dr_report.ReportError as err:
            result.mv_error = str(err)
        events.close()
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.terminate()
            await proc.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    result.wall_seconds = loop.time() - t0
    return result


def summary(result: DrDemoResult) -> str:
    opts = [m["opt"] for m in result.vtn if "opt" in m]
    reports = sum(1 for m in result.vtn if "report" in m)
    decided = result.decisions[-1] if result.decisions else {}
    lines = [
        "",
        "gridaios demo: a DR event from the utility's OpenADR VTN",
        "-" * 72,
        f"VEN registered with the VTN      {any('registered' in m for m in result.vtn)}",
        f"opt-in decision                  {decided.get('opt', 'none')} by "
        f"{decided.get('by', '-')} ({decided.get('reason', '')})",
        f"oadrCreatedEvent seen by the VTN {', '.join(opts) or 'none'}",
        f"internal DR events accepted      {result.accepted}",
        f"dispatches proposed/sent/verified {result.dispatches.get('proposed', 0)} / "
        f"{result.dispatches.get('sent', 0)} / {result.dispatches.get('verified', 0)}",
        f"telemetry readings at the VTN    {reports}",
        f"wall time                        {result.wall_seconds:.1f} s",
        "-" * 72,
        "measurement and verification:",
        result.mv_text or f"not available: {result.mv_error}",
        "-" * 72,
        f"the full report: gridaios dr report {EVENT_ID} --db {result.event_log} "
        f"--history {Path(result.event_log).with_name(Path(result.event_log).stem + '-history')} "
        "--point substation.p_kw --html dr.html",
    ]
    return "\n".join(lines)


__all__ = ["DemoClock", "DrDemoResult", "dr_config", "run_dr_demo", "seed_history", "summary"]

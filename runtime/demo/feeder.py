"""The demo: the virtual field on a real OPC UA server, and the conductor dispatching to it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import gridaios_data
from runtime.conductor.loop import Conductor
from runtime.config import site
from runtime.config.load import load_config
from runtime.config.model import BatteryAsset, SiteConfig
from runtime.core.clock import ScaledClock
from runtime.ingest.historian import Historian
from runtime.log.eventlog import EventLog
from simulator import Scenario, VirtualField, load_scenario

DEFAULT_CONFIG = gridaios_data.DEMO_CONFIG
SCENARIO_DIR = gridaios_data.SCENARIOS


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_endpoint(config: SiteConfig, endpoint: str) -> SiteConfig:
    """Point every OPC UA source at ``endpoint`` (the demo's own field)."""
    sources = [
        s.model_copy(update={"endpoint": endpoint}) if s.type == "opcua" else s
        for s in config.sources
    ]
    return config.model_copy(update={"sources": sources})


class ClockFromStart:
    """Simulated time that stands at ``start`` until ``begin()``, then runs ``speed``
    times faster than the wall (a ``ScaledClock`` started once every part is up)."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.start = start
        self.speed = speed
        self._clock: ScaledClock | None = None

    def begin(self) -> None:
        self._clock = ScaledClock(self.start, self.speed)

    def __call__(self) -> datetime:
        return self.start if self._clock is None else self._clock()


async def together(*parts: Coroutine[Any, Any, None]) -> None:
    """Run ``parts`` to the end together; the first failure stops the others and is
    raised as itself (not wrapped in an ExceptionGroup), so callers can catch it."""
    try:
        async with asyncio.TaskGroup() as tasks:
            for part in parts:
                tasks.create_task(part)
    except ExceptionGroup as group:
        raise group.exceptions[0] from group


@dataclass
class DemoResult:
    peak_kw_before: float
    peak_kw_after: float
    dispatches: dict[str, int]
    violations: int
    violation_details: list[str]
    event_log: str
    dispatch_ids: list[str]
    sim_start: datetime
    sim_end: datetime
    wall_seconds: float
    device_ledger: list[dict[str, Any]] = field(default_factory=list)
    agents: dict[str, Any] = field(default_factory=dict)  # per-agent counters (docs/agents.md)

    def as_json(self) -> dict[str, Any]:
        return {
            "peak_kw_before": round(self.peak_kw_before, 1),
            "peak_kw_after": round(self.peak_kw_after, 1),
            "dispatches": self.dispatches,
            "violations": self.violations,
            "violation_details": self.violation_details,
            "event_log": self.event_log,
            "dispatch_ids": self.dispatch_ids,
            "sim_start": self.sim_start.isoformat(),
            "sim_end": self.sim_end.isoformat(),
            "wall_seconds": round(self.wall_seconds, 1),
            "device_ledger": self.device_ledger,
            "agents": self.agents,
        }


async def run_demo(
    *,
    config: SiteConfig,
    scenario: Scenario,
    db_path: Path,
    speed: float,
    duration_s: float | None,
    auto_approve: bool,
    api: tuple[Any, Path | None] | None = None,
) -> DemoResult:
    """``api``: (Listen, users path) to serve the HTTP API and console during the run."""
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/gridaios/field"
    config = with_endpoint(config, endpoint)
    clock = ClockFromStart(scenario.start, speed)
    end = scenario.start + timedelta(
        seconds=min(duration_s or scenario.duration_s, scenario.duration_s)
    )
    field_ = VirtualField(site.field_spec(config), scenario, clock, endpoint)
    events = EventLog(db_path)
    # with the console: a historian (the sparklines' source), one per demo log
    historian = Historian(db_path.with_name(f"{db_path.stem}-history")) if api else None
    conductor = Conductor(config, events, clock, auto_approve=auto_approve, historian=historian)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    app, api_task = None, None
    if api is not None:
        from runtime.api import close_app, serve_api
        from runtime.api.hosting import conductor_app

        listen, users = api
        app = conductor_app(
            conductor,
            listen,
            users_path=users,
            history_dir=historian.root if historian is not None else None,
        )
        api_task = asyncio.create_task(serve_api(app, listen))
    await field_.start()  # an OPC UA server takes seconds to start on a busy machine:
    clock.begin()  # the scenario's time runs from here

    async def conduct() -> None:
        await conductor.connect()
        await conductor.run(until=end)

    try:
        await together(field_.run(until=end), conduct())  # the field runs while it connects
    finally:
        if api_task is not None and app is not None:
            api_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await api_task
            close_app(app)
        await conductor.close()
        await field_.stop()
        events.close()
    wall = loop.time() - t0
    return summarize(config, scenario, field_, conductor, end, db_path, wall)


DISPATCH_KEYS = (
    "proposed",
    "approved",
    "rejected",
    "clamped",
    "blocked",
    "awaiting_approval",
    "expired",
    "escalated",
    "superseded",
    "sent",
    "acked",
    "verified",
    "failed",
)


def summarize(
    config: SiteConfig,
    scenario: Scenario,
    field_: VirtualField,
    conductor: Conductor,
    end: datetime,
    db_path: Path,
    wall: float,
) -> DemoResult:
    """The demo's result from the field's own record (device truth) and the conductor."""
    n = scenario.step_index(end) + 1
    baseline = field_.baseline_net_kw()[:n]
    observed = [r for r in field_.meter_history if r.ts <= end]
    violations = _violations(config, field_, observed)
    return DemoResult(
        peak_kw_before=max(baseline),
        peak_kw_after=max(r.p_kw for r in observed),
        dispatches={k: conductor.counts.get(k, 0) for k in DISPATCH_KEYS},
        violations=len(violations),
        violation_details=violations[:10],
        event_log=str(db_path),
        dispatch_ids=list(conductor.dispatch_ids),
        sim_start=scenario.start,
        sim_end=end,
        wall_seconds=wall,
        device_ledger=[
            {
                "battery": b,
                "key": c.key,
                "value_kw": c.value,
                "applied_at": c.applied_at.isoformat(),
            }
            for b in field_.batteries
            for c in field_.ledger(b)
        ],
        agents=conductor.agents.stats(),
    )


def _violations(config: SiteConfig, field_: VirtualField, observed: list[Any]) -> list[str]:
    """Limit breaches in the field's own record (device truth, not what the runtime believed)."""
    out: list[str] = []
    rating = config.feeder.transformer_rating_kw
    for r in observed:
        if abs(r.p_kw) > rating:
            out.append(f"{r.ts:%H:%M:%S} transformer {r.p_kw:.0f} kW > rating {rating:.0f} kW")
    for asset in config.assets:
        if isinstance(asset, BatteryAsset):
            soc = field_.batteries[asset.id].soc_pct
            if soc < asset.soc_min_pct - 0.5:
                out.append(f"{asset.id} SoC {soc:.1f}% below {asset.soc_min_pct:g}%")
    return out


def default_db_path(now: datetime) -> Path:
    return gridaios_data.scratch_dir("demo") / f"events-{now:%Y%m%dT%H%M%S}.db"


def load_demo_inputs(config_path: str | None, scenario_name: str) -> tuple[SiteConfig, Scenario]:
    config = load_config(config_path or DEFAULT_CONFIG)
    return config, load_scenario(scenario_name, SCENARIO_DIR)


def summary_table(result: DemoResult, scenario: str = "evening-peak") -> str:
    d = result.dispatches
    shaved = result.peak_kw_before - result.peak_kw_after
    rows = [
        ("simulated window", f"{result.sim_start:%Y-%m-%d %H:%M} - {result.sim_end:%H:%M} UTC"),
        ("wall time", f"{result.wall_seconds:.1f} s"),
        ("feeder peak, no action", f"{result.peak_kw_before:,.0f} kW"),
        (
            "feeder peak, with gridaios",
            f"{result.peak_kw_after:,.0f} kW  ({shaved:+,.0f} kW shaved)",
        ),
        ("proposed", str(d["proposed"])),
        ("clamped by the gate", str(d["clamped"])),
        ("rejected by the gate", str(d["rejected"])),
        ("blocked by the simulator", str(d["blocked"])),
        ("approved", str(d["approved"])),
        (
            "awaiting / expired / superseded",
            f"{d['awaiting_approval']} / {d['expired']} / {d['superseded']}",
        ),
        ("sent / acked / verified", f"{d['sent']} / {d['acked']} / {d['verified']}"),
        ("failed", str(d["failed"])),
        ("limit violations in the field", str(result.violations)),
        ("event log", result.event_log),
    ]
    width = max(len(k) for k, _ in rows)
    title = f"gridaios demo: {scenario.replace('-', ' ')} on the demo feeder"
    lines = ["", title, "-" * (width + 40)]
    lines += [f"{k.ljust(width)}  {v}" for k, v in rows]
    lines.append("-" * (width + 40))
    lines.append(f"explain one dispatch: gridaios explain <dispatch id> --db {result.event_log}")
    return "\n".join(lines)

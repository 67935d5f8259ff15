"""Benchmark of the safety gate: one command (p99) and a 1,000-command plan over 100 assets.

Targets (issue 3): one command <= 50 us at p99; the plan <= 20 ms. Each is
reported against a baseline measured in the same run:
- one command vs a naive hand-written check (min/max + staleness only), the
  least any gate must do;
- the joint plan vs a naive per-command loop (``evaluate([c])`` for each
  command, which rebuilds the context each time and misses joint effects).

How it is measured, on a shared and noisy machine: every call is timed on its
own, both in wall time (``perf_counter_ns``) and in the CPU time of this thread
(``thread_time_ns``), with the garbage collector off during the timed loops.
The cost of the timing itself (the clocks and the call, timed on a no-op the
same way, median) is subtracted from every sample (``timer_overhead_us``).

The headline is CPU time: rows ``*_cpu_p50`` and ``*_cpu_p99`` and their
``meets_target``, each with the wall-time figure alongside (``wall``,
``meets_target_wall``); rows ``*_wall_p50`` / ``*_wall_p99`` give wall time on
its own. Wall time on a box where other processes hold the cores counts the
time this process sat preempted, which says nothing about the gate; on an idle
machine the two agree. CPU time is not immune to sharing either: a call
preempted part-way resumes on cold caches and runs slower, so CPU p99 (and a
20 ms plan's p50) still rise with the load. ``cpu_min`` (the least disturbed
sample) and ``machine_sum_range_1000_us`` (``sum(range(1000))`` in CPU time
during the run; about 8-10 us on an idle core) help read a noisy run. The plan
target is read at p50 (a typical plan); p99 is reported too. ``ratio`` is
baseline / value (> 1: faster than the baseline).

Run: ``python -m benchmarks --only safety`` or ``python -m benchmarks.bench_safety``.
"""

from __future__ import annotations

import gc
import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from typing import Any, NamedTuple

from benchmarks.util import percentile, row
from safety import (
    AssetLimits,
    AssetRole,
    BatteryEnergy,
    Bus,
    Command,
    CommandKind,
    Envelope,
    FeederLimit,
    Interlock,
    Origin,
    Policy,
    Quality,
    Ramp,
    Range,
    RateLimit,
    Reading,
    StateSnapshot,
    TimeWindow,
    evaluate,
)

T0 = datetime(2026, 7, 15, 17, 0, tzinfo=UTC)
KW = CommandKind.ACTIVE_POWER_KW
PCT = CommandKind.CURTAIL_PCT


def _site(n_assets: int) -> tuple[Envelope, StateSnapshot]:
    assets: dict[str, AssetLimits] = {}
    values: dict[str, float] = {"meter.p_kw": 5000.0, "bus.v_pu": 1.0}
    for i in range(n_assets):
        name = f"a{i:03d}"
        values[f"{name}.p_kw"] = 0.0
        values[f"{name}.lock"] = 0.0
        common = {
            "asset": name,
            "power_point": f"{name}.p_kw",
            "feeder": "f1",
            "rate_limit": RateLimit(max_commands=20, window=timedelta(hours=1)),
            "interlocks": (
                Interlock(id="maintenance", point=f"{name}.lock", active_when=1.0, reason="m"),
            ),
            "voltage_pu_per_kw": {"b1": 0.00001},
        }
        if i % 5 < 3:  # 60 % batteries
            values[f"{name}.soc_pct"] = 60.0
            assets[name] = AssetLimits(
                ranges={KW: Range(min_value=-100.0, max_value=100.0)},
                role=AssetRole.STORAGE,
                required_points=(f"{name}.p_kw", f"{name}.soc_pct"),
                battery=BatteryEnergy(
                    capacity_kwh=400.0,
                    soc_min_pct=10.0,
                    soc_max_pct=95.0,
                    efficiency=0.92,
                    soc_point=f"{name}.soc_pct",
                ),
                ramps={KW: Ramp(per_min=100.0)},
                **common,  # type: ignore[arg-type]
            )
        else:
            values[f"{name}.p_kw"] = 80.0
            values[f"{name}.curtail_pct"] = 0.0
            assets[name] = AssetLimits(
                ranges={PCT: Range(min_value=0.0, max_value=50.0)},
                role=AssetRole.LOAD if i % 5 == 3 else AssetRole.GENERATION,
                required_points=(f"{name}.p_kw",),
                current_points={PCT: f"{name}.curtail_pct"},
                ramps={PCT: Ramp(per_min=50.0)},
                time_windows=(
                    TimeWindow(
                        id="night",
                        kinds=frozenset({PCT}),
                        start=time_of_day(23, 0),
                        end=time_of_day(5, 0),
                    ),
                ),
                **common,  # type: ignore[arg-type]
            )
    envelope = Envelope(
        assets=assets,
        feeders={"f1": FeederLimit(id="f1", rating_kw=20000.0, meter_point="meter.p_kw")},
        buses={"b1": Bus(id="b1", point="bus.v_pu")},
        max_age=timedelta(seconds=60),
        policies={"limit": Policy.CLAMP, "ramp": Policy.CLAMP, "soc": Policy.CLAMP},
    )
    state = StateSnapshot(
        readings={
            p: Reading(point=p, value=v, ts=T0, quality=Quality.GOOD) for p, v in values.items()
        }
    )
    return envelope, state


def _plan(envelope: Envelope, per_asset: int) -> list[Command]:
    commands = []
    for i, name in enumerate(sorted(envelope.assets)):
        kind = next(iter(envelope.assets[name].ranges))
        for k in range(per_asset):
            start = T0 + timedelta(minutes=15 * k + i % 5)
            value = (40.0 if k % 2 else -30.0) if kind is KW else 10.0 + k
            commands.append(
                Command(
                    key=f"{name}-{k}",
                    asset=name,
                    kind=kind,
                    value=value,
                    start=start,
                    end=start + timedelta(minutes=15),
                    origin=Origin.AGENT,
                )
            )
    return commands


def _naive_check(command: Command, state: StateSnapshot, envelope: Envelope) -> bool:
    """The least a gate must do: staleness of the asset's points and its min/max."""
    limits = envelope.assets[command.asset]
    for point in limits.required_points:
        reading = state.get(point)
        if reading is None or reading.quality is not Quality.GOOD:
            return False
        if (T0 - reading.ts) > envelope.max_age:
            return False
    rng = limits.ranges[command.kind]
    return math.isfinite(command.value) and rng.min_value <= command.value <= rng.max_value


class _Samples(NamedTuple):
    """Per-call wall and thread-CPU times, in microseconds."""

    wall_us: list[float]
    cpu_us: list[float]


def _time_each(fn: Callable[[], object], n: int, overhead: _Samples | None = None) -> _Samples:
    """Time ``n`` calls one by one: wall (perf_counter_ns) and CPU of this thread (thread_time_ns).

    The collector is off while timing (a collection would be charged to whichever
    call triggered it); it runs once before, so no garbage from setup is pending.
    ``overhead``: the cost of the clocks and the call itself (timing a no-op the same
    way, one median each), subtracted from every sample.
    """
    wall: list[float] = []
    cpu: list[float] = []
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    gc.collect()
    gc.disable()
    try:
        for _ in range(n):
            w0, c0 = clock(), cpu_clock()
            fn()
            c1, w1 = cpu_clock(), clock()
            wall.append((w1 - w0) / 1000.0)
            cpu.append((c1 - c0) / 1000.0)
    finally:
        gc.enable()
    if overhead is not None:
        wall_0, cpu_0 = overhead.wall_us[0], overhead.cpu_us[0]
        wall = [max(0.0, w - wall_0) for w in wall]
        cpu = [max(0.0, c - cpu_0) for c in cpu]
    return _Samples(wall, cpu)


def _timer_overhead() -> _Samples:
    """Median per-sample cost of the timing itself (two clock pairs and a no-op call)."""
    samples = _time_each(lambda: None, 20_000)
    return _Samples([percentile(samples.wall_us, 50)], [percentile(samples.cpu_us, 50)])


def _machine_speed_us() -> float:
    """``sum(range(1000))`` best-of-5 in thread CPU time: how fast this interpreter runs right
    now (about 8-10 us on an idle modern core), to read the absolute figures on a shared box."""
    best = math.inf
    for _ in range(5):
        t = time.thread_time_ns()
        for _ in range(2000):
            sum(range(1000))
        best = min(best, (time.thread_time_ns() - t) / 2000 / 1000.0)
    return best


def _rows(
    name: str, gate: _Samples, naive: _Samples, unit: str, scale: float, target: float, **extra: Any
) -> list[dict[str, Any]]:
    """p50 and p99 of CPU (headline, with pass/fail against ``target``) and of wall time."""
    out = []
    for q in (50, 99):
        cpu, cpu_base = percentile(gate.cpu_us, q) / scale, percentile(naive.cpu_us, q) / scale
        wall, wall_base = percentile(gate.wall_us, q) / scale, percentile(naive.wall_us, q) / scale
        out.append(
            row(
                f"{name}_cpu_p{q}",
                cpu,
                unit,
                cpu_base,
                higher_is_better=False,
                wall=round(wall, 3),
                wall_baseline=round(wall_base, 3),
                cpu_min=round(min(gate.cpu_us) / scale, 3),
                cpu_min_baseline=round(min(naive.cpu_us) / scale, 3),
                target=target,
                meets_target=cpu <= target,
                meets_target_wall=wall <= target,
                samples=len(gate.cpu_us),
                **extra,
            )
        )
        out.append(
            row(
                f"{name}_wall_p{q}",
                wall,
                unit,
                wall_base,
                higher_is_better=False,
                target=target,
                meets_target=wall <= target,
                samples=len(gate.wall_us),
            )
        )
    return out


def run() -> list[dict[str, Any]]:
    speed_us = _machine_speed_us()
    envelope, state = _site(100)
    one = _plan(envelope, 1)[0]
    assert evaluate([one], state, envelope, T0)[0].outcome in ("accepted", "clamped")
    assert _naive_check(one, state, envelope)
    n = 50_000
    overhead = _timer_overhead()
    gate_one = _time_each(lambda: evaluate([one], state, envelope, T0), n, overhead)
    naive_one = _time_each(lambda: _naive_check(one, state, envelope), n, overhead)

    plan = _plan(envelope, 10)
    assert len(plan) == 1000 and len({c.asset for c in plan}) == 100
    verdicts = evaluate(plan, state, envelope, T0)
    outcomes = {o: sum(v.outcome == o for v in verdicts) for o in ("accepted", "clamped")}
    assert sum(outcomes.values()) == len(plan), outcomes

    def per_command_loop() -> None:
        for command in plan:
            evaluate([command], state, envelope, T0)

    gate_plan = _time_each(lambda: evaluate(plan, state, envelope, T0), 150, overhead)
    naive_plan = _time_each(per_command_loop, 25, overhead)
    return [
        *_rows(
            "safety.one_command",
            gate_one,
            naive_one,
            "us",
            1.0,
            50.0,
            baseline_is="naive min/max + staleness check of the same command",
            machine_sum_range_1000_us=round(speed_us, 2),
            timer_overhead_us={
                "wall": round(overhead.wall_us[0], 3),
                "cpu": round(overhead.cpu_us[0], 3),
            },
        ),
        *_rows(
            "safety.plan_1000x100",
            gate_plan,
            naive_plan,
            "ms",
            1000.0,
            20.0,
            baseline_is="naive per-command evaluate() loop over the same plan",
            outcomes=outcomes,
            machine_sum_range_1000_us=round(speed_us, 2),
        ),
    ]


if __name__ == "__main__":
    for result in run():
        print(json.dumps(result))

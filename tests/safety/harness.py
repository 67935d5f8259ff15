"""A small test site and an OpenEMS-style step harness: state in, verdicts out, fake clock.

Each step advances the fake clock, updates some readings, restamps every point
with the new time except those listed as ``frozen`` (a device that stopped
reporting: they keep their old stamp and age), submits commands and checks
the verdicts. Accepted and clamped commands go into the dispatch history the
next step sees, as the runtime would record them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from safety import (
    Accepted,
    AssetLimits,
    AssetRole,
    BatteryEnergy,
    Bus,
    Clamped,
    Command,
    CommandKind,
    Dispatch,
    Envelope,
    FeederLimit,
    Forecast,
    Origin,
    Policy,
    Quality,
    Range,
    Reading,
    StateSnapshot,
    SwitchTiming,
    Verdict,
    evaluate,
)

T0 = datetime(2026, 7, 15, 17, 0, tzinfo=UTC)
KW = CommandKind.ACTIVE_POWER_KW
KVAR = CommandKind.REACTIVE_POWER_KVAR
PCT = CommandKind.CURTAIL_PCT
SWITCH = CommandKind.SWITCH


def battery(asset: str, **changes: object) -> AssetLimits:
    limits = AssetLimits(
        asset=asset,
        ranges={KW: Range(min_value=-250.0, max_value=250.0)},
        role=AssetRole.STORAGE,
        required_points=(f"{asset}.p_kw", f"{asset}.soc_pct"),
        power_point=f"{asset}.p_kw",
        battery=BatteryEnergy(
            capacity_kwh=500.0,
            soc_min_pct=10.0,
            soc_max_pct=90.0,
            efficiency=1.0,
            soc_point=f"{asset}.soc_pct",
        ),
        feeder="f1",
    )
    return replace(limits, **changes)  # type: ignore[arg-type]


def pv(asset: str = "pv1", **changes: object) -> AssetLimits:
    limits = AssetLimits(
        asset=asset,
        ranges={PCT: Range(min_value=0.0, max_value=100.0)},
        role=AssetRole.GENERATION,
        required_points=(f"{asset}.p_kw",),
        power_point=f"{asset}.p_kw",
        current_points={PCT: f"{asset}.curtail_pct"},
        feeder="f1",
    )
    return replace(limits, **changes)  # type: ignore[arg-type]


def load(asset: str = "load1", **changes: object) -> AssetLimits:
    limits = AssetLimits(
        asset=asset,
        ranges={
            PCT: Range(min_value=0.0, max_value=40.0),
            SWITCH: Range(min_value=0.0, max_value=1.0),
        },
        role=AssetRole.LOAD,
        required_points=(f"{asset}.p_kw",),
        power_point=f"{asset}.p_kw",
        current_points={PCT: f"{asset}.curtail_pct"},
        switch=SwitchTiming(min_on=timedelta(0), min_off=timedelta(0)),
        feeder="f1",
    )
    return replace(limits, **changes)  # type: ignore[arg-type]


def site(
    *assets: AssetLimits,
    rating_kw: float = 1000.0,
    buses: Sequence[Bus] = (),
    policies: Mapping[str, str] | None = None,
    **changes: object,
) -> Envelope:
    """A feeder ``f1`` behind meter ``meter.p_kw`` with the given assets (default: bat1)."""
    chosen = assets or (battery("bat1"),)
    env = Envelope(
        assets={a.asset: a for a in chosen},
        feeders={"f1": FeederLimit(id="f1", rating_kw=rating_kw, meter_point="meter.p_kw")},
        buses={b.id: b for b in buses},
        max_age=timedelta(seconds=60),
        policies={k: Policy(v) for k, v in (policies or {}).items()},
    )
    return replace(env, **changes)  # type: ignore[arg-type]


BASE_READINGS: dict[str, float] = {
    "meter.p_kw": 600.0,
    "bat1.p_kw": 0.0,
    "bat1.soc_pct": 50.0,
    "bat2.p_kw": 0.0,
    "bat2.soc_pct": 50.0,
    "pv1.p_kw": 200.0,
    "pv1.curtail_pct": 0.0,
    "load1.p_kw": 100.0,
    "load1.curtail_pct": 0.0,
    "load1.switch_state": 1.0,
    "bat1.maintenance": 0.0,
    "bus1.v_pu": 1.0,
}


def snapshot(
    values: Mapping[str, float] | None = None,
    *,
    at: datetime = T0,
    quality: Quality = Quality.GOOD,
) -> StateSnapshot:
    merged = {**BASE_READINGS, **(values or {})}
    return StateSnapshot(
        readings={p: Reading(point=p, value=v, ts=at, quality=quality) for p, v in merged.items()}
    )


def cmd(
    key: str,
    asset: str = "bat1",
    kind: CommandKind = KW,
    value: float = 100.0,
    *,
    start: datetime = T0,
    minutes: float = 15.0,
    origin: Origin = Origin.AGENT,
    unit: str | None = None,
) -> Command:
    return Command(
        key=key,
        asset=asset,
        kind=kind,
        value=value,
        start=start,
        end=start + timedelta(minutes=minutes),
        origin=origin,
        unit=unit,
    )


def ids(verdict: Verdict) -> set[str]:
    return {h.constraint for h in verdict.hits}


def allowed(verdict: Verdict) -> float | None:
    return verdict.approved.value if isinstance(verdict, Accepted | Clamped) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Expect:
    outcome: str
    value: float | None = None
    fired: frozenset[str] = frozenset()


def expect(outcome: str, value: float | None = None, *fired: str) -> Expect:
    return Expect(outcome=outcome, value=value, fired=frozenset(fired))


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """After ``after``, set ``readings`` (stamped now), submit ``commands`` (relative to now)."""

    after: timedelta = timedelta(0)
    readings: Mapping[str, float] = field(default_factory=dict)
    quality: Mapping[str, Quality] = field(default_factory=dict)
    frozen: frozenset[str] = frozenset()
    commands: Sequence[tuple[str, str, CommandKind, float, float]] = ()
    expect: Sequence[Expect] = ()


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def advance(self, by: timedelta) -> datetime:
        self.now += by
        return self.now


def run_steps(
    envelope: Envelope,
    steps: Sequence[Step],
    *,
    initial: Mapping[str, float] | None = None,
    forecast: Forecast | None = None,
) -> list[list[Verdict]]:
    """Drive the gate step by step; assert each step's expectations; return all verdicts."""
    clock = FakeClock()
    readings = {
        p: Reading(point=p, value=v, ts=clock.now, quality=Quality.GOOD)
        for p, v in {**BASE_READINGS, **(initial or {})}.items()
    }
    history: list[Dispatch] = []
    out: list[list[Verdict]] = []
    for n, step in enumerate(steps):
        now = clock.advance(step.after)
        for point, reading in list(readings.items()):
            if point not in step.frozen:
                readings[point] = replace(reading, ts=now)
        for point, value in step.readings.items():
            quality = step.quality.get(point, Quality.GOOD)
            readings[point] = Reading(point=point, value=value, ts=now, quality=quality)
        for point, quality in step.quality.items():
            if point not in step.readings:
                readings[point] = replace(readings[point], quality=quality)
        commands = [
            Command(
                key=key,
                asset=asset,
                kind=kind,
                value=value,
                start=now,
                end=now + timedelta(minutes=minutes),
                origin=Origin.AGENT,
            )
            for key, asset, kind, value, minutes in step.commands
        ]
        state = StateSnapshot(readings=dict(readings))
        verdicts = evaluate(commands, state, envelope, now, history=history, forecast=forecast)
        got = [
            Expect(outcome=v.outcome, value=allowed(v), fired=frozenset(ids(v))) for v in verdicts
        ]
        assert got == list(step.expect), f"step {n} at {now:%H:%M:%S}: {_explain(verdicts)}"
        history.extend(
            Dispatch(asset=c.asset, kind=c.kind, value=allowed(v) or 0.0, at=c.start)
            for c, v in zip(commands, verdicts, strict=True)
            if isinstance(v, Accepted | Clamped)
        )
        out.append(verdicts)
    return out


def _explain(verdicts: Sequence[Verdict]) -> str:
    return "; ".join(
        f"{v.command.key}: {v.outcome} {allowed(v)} " + ", ".join(h.reason for h in v.hits)
        for v in verdicts
    )

"""The exogenous inputs of a shadow run: what the feeder does whatever the policy decides.

Both sides see the same base load, PV and flexible-load series; each side adds its
own batteries on top (closed loop). Inputs come from a simulator scenario (the
demo's profiles and scripted faults) or from recorded telemetry: the historian's
Parquet files or ``telemetry.sample`` events in the event log. From a recording,
the uncontrolled load is the meter plus what the recorded batteries discharged,
so each side replays the feeder without the batteries' recorded actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from runtime.agents.dr import DrEvent
from runtime.agents.shell import HISTORY
from runtime.config import site
from runtime.config.model import BatteryAsset, CurtailableLoadAsset, PvAsset, SiteConfig
from runtime.core.errors import GridaiosError
from runtime.ingest.historian import Historian
from runtime.log.eventlog import EventLog
from simulator import Scenario

DAY_S = 86400.0
_INCLUSIVE = timedelta(microseconds=1)  # --history FROM..TO includes TO


@dataclass(frozen=True, slots=True, kw_only=True)
class KnownDrEvent:
    """A DR event and when the runtime learnt of it (agents perceive it from then on)."""

    known_at: datetime
    event: DrEvent


class InputsError(GridaiosError):
    """The inputs of a shadow run cannot be built (no data in the window, bad range...)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ShadowInputs:
    label: str
    start: datetime
    step_s: float
    base_load_kw: np.ndarray  # everything not modelled as an asset
    pv_kw: dict[str, np.ndarray] = field(default_factory=dict)
    load_kw: dict[str, np.ndarray] = field(default_factory=dict)
    initial_soc_pct: dict[str, float] = field(default_factory=dict)
    scenario: Scenario | None = None  # its scripted faults apply to both sides
    yesterday_kw: np.ndarray | None = None  # uncontrolled load the day before, same step
    dr_events: tuple[KnownDrEvent, ...] = ()  # DR events the agents learn of during the run
    lead_kw: np.ndarray | None = None  # uncontrolled load up to 30 h before, ending at start

    @property
    def n(self) -> int:
        return len(self.base_load_kw)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.step_s * (self.n - 1))

    def index(self, when: datetime) -> int:
        i = int((when - self.start).total_seconds() // self.step_s)
        return min(max(i, 0), self.n - 1)

    def uncontrolled_kw(self) -> np.ndarray:
        net = self.base_load_kw.copy()
        for series in self.load_kw.values():
            net = net + series
        for series in self.pv_kw.values():
            net = net - series
        out: np.ndarray = net
        return out


def from_scenario(config: SiteConfig, scenario: Scenario) -> ShadowInputs:
    pv = {a.id: scenario.profile_kw(a.id) for a in config.assets if isinstance(a, PvAsset)}
    loads = {
        a.id: scenario.profile_kw(a.id)
        for a in config.assets
        if isinstance(a, CurtailableLoadAsset)
    }
    yesterday = _scenario_load(config, scenario, scenario.start - timedelta(days=1), DAY_S)
    lead = _scenario_load(config, scenario, scenario.start - HISTORY, HISTORY.total_seconds())
    return ShadowInputs(
        label=f"scenario {scenario.name}",
        start=scenario.start,
        step_s=scenario.step_s,
        base_load_kw=scenario.profile_kw("base_load"),
        pv_kw=pv,
        load_kw=loads,
        initial_soc_pct={
            a.id: a.initial_soc_pct for a in config.assets if isinstance(a, BatteryAsset)
        },
        scenario=scenario,
        yesterday_kw=yesterday,
        lead_kw=lead,
    )


def _scenario_load(
    config: SiteConfig, scenario: Scenario, since: datetime, span_s: float
) -> np.ndarray:
    """The scenario's noiseless uncontrolled load from ``since`` for ``span_s`` seconds."""
    step = timedelta(seconds=scenario.step_s)
    n = int(span_s // scenario.step_s)
    out = scenario.sample_kw("base_load", since, step, n)
    for a in config.assets:
        sign = -1.0 if isinstance(a, PvAsset) else 1.0
        if isinstance(a, PvAsset | CurtailableLoadAsset):
            out = out + sign * scenario.sample_kw(a.id, since, step, n)
    result: np.ndarray = out
    return result


def parse_range(text: str) -> tuple[datetime, datetime]:
    """``FROM..TO`` in ISO 8601 (UTC when no offset is given)."""
    since_text, sep, until_text = text.partition("..")
    if not sep:
        raise InputsError(
            f"--history {text!r}: give FROM..TO, e.g. 2026-07-15T15:00Z..2026-07-15T21:00Z"
        )
    try:
        since, until = (_utc(datetime.fromisoformat(t.strip())) for t in (since_text, until_text))
    except ValueError as err:
        raise InputsError(f"--history {text!r}: {err}; use ISO times FROM..TO") from err
    if until <= since:
        raise InputsError(f"--history {text!r}: TO must be after FROM")
    return since, until


def recorded_frame(
    since: datetime, until: datetime, *, historian: Path | None, db: Path | None
) -> pl.DataFrame:
    """``point, ts, value`` of good samples in [since - 30 h, until): historian first, else log
    (a day back for the seasonal-naive forecasts, 30 h for the agents' history)."""
    lookback = since - HISTORY
    frames: list[pl.DataFrame] = []
    if historian is not None:
        if not historian.is_dir():
            raise InputsError(f"--historian {historian}: no such directory")
        frame = Historian(historian).read(since=lookback, until=until + _INCLUSIVE)
        frames.append(frame.filter(pl.col("quality") == "good").select("point", "ts", "value"))
    if db is not None:
        if not db.is_file():
            raise InputsError(f"--db {db}: no event log there")
        log = EventLog(db, readonly=True)
        try:
            rows = [
                (
                    str(e.payload["point"]),
                    _when(e.payload.get("source_ts"), e.ts),
                    float(e.payload["value"]),
                )
                for e in log.events(kinds=("telemetry.sample",), since=lookback, until=until)
                if not e.compacted and e.payload.get("quality", "good") == "good"
            ]
        finally:
            log.close()
        frames.append(
            pl.DataFrame(
                rows,
                schema={"point": pl.String, "ts": pl.Datetime("us", "UTC"), "value": pl.Float64},
                orient="row",
            )
        )
    if not frames:
        raise InputsError("--history needs --historian DIR or --db EVENTS.db (or both)")
    return pl.concat(frames).sort("point", "ts")


def from_history(
    config: SiteConfig,
    since: datetime,
    until: datetime,
    *,
    historian: Path | None = None,
    db: Path | None = None,
    step_s: float = 60.0,
) -> ShadowInputs:
    """Resample recorded telemetry to ``step_s`` (last value held) and remove the batteries."""
    if not 0 < step_s <= 3600:
        raise InputsError(f"--step-s {step_s:g}: must be in (0, 3600] seconds")
    frame = recorded_frame(since, until, historian=historian, db=db)
    meter_point = site.point_id(config.feeder.meter, "p_kw")
    if frame.filter(pl.col("point") == meter_point).filter(pl.col("ts") >= since).is_empty():
        raise InputsError(
            f"--history {since.isoformat()}..{until.isoformat()}: no good {meter_point} samples "
            "recorded in that window; check the range (gridaios history export lists what exists)"
        )
    n = int((until - since).total_seconds() // step_s) + 1
    grid = _grid(since, step_s, n)
    meter = _held(frame, meter_point, grid)
    batteries = [a for a in config.assets if isinstance(a, BatteryAsset)]
    uncontrolled = meter.copy()
    soc: dict[str, float] = {}
    for b in batteries:
        uncontrolled = uncontrolled + _held(frame, site.point_id(b.id, "p_kw"), grid)
        soc_series = _held(frame, site.point_id(b.id, "soc_pct"), grid, default=b.initial_soc_pct)
        soc[b.id] = float(soc_series[0])
    pv = {
        a.id: _held(frame, site.point_id(a.id, "p_kw"), grid)
        for a in config.assets
        if isinstance(a, PvAsset)
    }
    loads = {
        a.id: _held(frame, site.point_id(a.id, "p_kw"), grid)
        for a in config.assets
        if isinstance(a, CurtailableLoadAsset)
    }
    base = uncontrolled - sum(loads.values(), np.zeros(n)) + sum(pv.values(), np.zeros(n))
    dr_events = recorded_dr_events(db, since, until) if db is not None else ()
    yesterday = _yesterday(frame, meter_point, batteries, since, step_s, int(DAY_S // step_s))
    lead = _lead(frame, meter_point, batteries, since, step_s)
    return ShadowInputs(
        label=f"history {since:%Y-%m-%d %H:%M}..{until:%Y-%m-%d %H:%M} UTC",
        start=since,
        step_s=step_s,
        base_load_kw=base,
        pv_kw=pv,
        load_kw=loads,
        initial_soc_pct=soc,
        yesterday_kw=yesterday,
        lead_kw=lead,
        dr_events=dr_events,
    )


def recorded_dr_events(db: Path, since: datetime, until: datetime) -> tuple[KnownDrEvent, ...]:
    """The DR events the conductor accepted up to ``until`` (``agent.dr_event_accepted``)
    that were not over by ``since``, each known from when it was accepted."""
    log = EventLog(db, readonly=True)
    try:
        out = [
            KnownDrEvent(known_at=e.ts, event=DrEvent.model_validate(e.payload["event"]))
            for e in log.events(kinds=("agent.dr_event_accepted",), until=until)
        ]
    finally:
        log.close()
    return tuple(k for k in out if k.event.end > since)


def _grid(start: datetime, step_s: float, n: int) -> pl.Series:
    return pl.Series(
        "ts",
        [start + timedelta(seconds=i * step_s) for i in range(n)],
        dtype=pl.Datetime("us", "UTC"),
    )


def _held(frame: pl.DataFrame, point: str, grid: pl.Series, default: float = 0.0) -> np.ndarray:
    """The point's last value at or before each grid time (the first value before it starts)."""
    series = frame.filter(pl.col("point") == point).select("ts", "value").sort("ts")
    if series.is_empty():
        return np.full(len(grid), default)
    joined = grid.to_frame().join_asof(series, on="ts", strategy="backward")
    values = joined["value"].fill_null(strategy="backward").fill_null(default)
    out: np.ndarray = values.to_numpy().astype(float)
    return out


def _yesterday(
    frame: pl.DataFrame,
    meter_point: str,
    batteries: list[BatteryAsset],
    since: datetime,
    step_s: float,
    n: int,
) -> np.ndarray | None:
    before = since - timedelta(days=1)
    recorded = frame.filter((pl.col("point") == meter_point) & (pl.col("ts") < since))
    if recorded.is_empty() or recorded["ts"].min() > before + timedelta(seconds=step_s):  # type: ignore[operator]
        return None  # less than a day recorded before FROM: the forecast falls back
    grid = _grid(before, step_s, n)
    out = _held(frame, meter_point, grid)
    for b in batteries:
        out = out + _held(frame, site.point_id(b.id, "p_kw"), grid)
    return out


def _lead(
    frame: pl.DataFrame,
    meter_point: str,
    batteries: list[BatteryAsset],
    since: datetime,
    step_s: float,
) -> np.ndarray | None:
    """The uncontrolled load recorded before ``since`` (at most 30 h, from the first
    recorded meter sample): what the conductor's agents would have seeded from."""
    recorded = frame.filter((pl.col("point") == meter_point) & (pl.col("ts") < since))
    if recorded.is_empty():
        return None
    earliest = recorded["ts"].min()
    if not isinstance(earliest, datetime):
        return None
    first = max(earliest, since - HISTORY)
    n = int((since - first).total_seconds() // step_s)
    if n <= 0:
        return None
    grid = _grid(since - timedelta(seconds=n * step_s), step_s, n)
    out = _held(frame, meter_point, grid)
    for b in batteries:
        out = out + _held(frame, site.point_id(b.id, "p_kw"), grid)
    return out


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _when(source_ts: object, logged: datetime) -> datetime:
    if isinstance(source_ts, str):
        return _utc(datetime.fromisoformat(source_ts))
    return logged

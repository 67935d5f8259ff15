"""The gate's inputs beyond the command and the state: dispatch history and a feeder forecast.

``history``: what the gate needs to ramp from the last commanded value, count an asset's
commands for its rate limit and time minimum on/off: every dispatch of the asset sent
inside the envelope's longest window (each with its first send), plus the asset's newest
dispatch however old (``Projections.last_key``). Read from the event log, so it survives
a restart: ``SendHistory`` folds the log's sends once and then only the new ones, so a
cycle gating several commands does not re-read the log's sends for each.

``forecast``: the uncontrolled net load of the command's feeder (meter + storage output,
i.e. load - PV) over the command's horizon, seasonal naive one day back in 5-minute
steps, level-adjusted to the present: step k is the measured value now plus the change
the feeder saw from the same instant yesterday to k steps later. Read from the
historian's good-quality samples. Steps without a sample a day ago (and everything after
the first such gap) are left out, and the gate holds the measured values flat there, as
it does over the whole plan when there is no forecast at all (docs/safety.md); that case
is logged and its reason recorded.

Both are recorded in ``dispatch.gated``; the gate is given the objects rebuilt from the
recorded JSON bodies, so what the log holds is exactly what the gate took and replay
reproduces the verdict bit for bit.

The selection (``pick``) and the forecast (``forecast_from``) are pure over where the
dispatches and samples come from, so a shadow side (``runtime.shadow.sidegate``) gives
its gate the same inputs from its own simulated sends and telemetry.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import polars as pl

from runtime.ingest.historian import SCHEMA, Historian, days
from runtime.log import events as ev
from runtime.log import records
from runtime.log.eventlog import EventLog
from safety import AssetRole, Command, Dispatch, Envelope, Forecast, StateSnapshot, Verdict

log = logging.getLogger(__name__)

SEASON = timedelta(days=1)
STEP = timedelta(minutes=5)
HELD = "measured feeder load held flat over the plan"


@dataclass(frozen=True, slots=True)
class GateInputs:
    """What the gate is given besides the command and the state, and how it is recorded."""

    history: tuple[Dispatch, ...]
    forecast: Forecast | None
    forecast_note: str
    history_body: tuple[ev.DispatchBody, ...]
    forecast_body: ev.ForecastBody | None

    def gated(self, verdict: Verdict, *, recheck: bool = False) -> ev.DispatchGated:
        return records.gated(
            verdict,
            recheck=recheck,
            history=self.history_body,
            forecast=self.forecast_body,
            forecast_note=self.forecast_note,
        )


def collect(
    sends: SendHistory,
    last_key: Mapping[str, str],
    envelope: Envelope,
    historian: Historian | None,
    snapshot: StateSnapshot,
    command: Command,
    now: datetime,
) -> GateInputs:
    """History and forecast for gating ``command`` at ``now`` (logs when there is no forecast)."""
    dispatches = sends.history(last_key, envelope, command.asset, now, exclude=command.key)
    forecast, note = feeder_forecast(historian, envelope, snapshot, command, now)
    if forecast is None:  # a site without a historian chose this: info; otherwise a warning
        level = logging.INFO if historian is None else logging.WARNING
        if note in _SAID:  # each dispatch.gated records the note: say it in the log once
            level = logging.DEBUG
        elif len(_SAID) < 1000:
            _SAID.add(note)
        log.log(level, "%s gated without a feeder forecast (%s): %s", command.key, note, HELD)
    return recorded(dispatches, forecast, note)


_SAID: set[str] = set()  # why there was no forecast, as already logged by this process


def recorded(dispatches: Sequence[Dispatch], forecast: Forecast | None, note: str) -> GateInputs:
    """The inputs as their JSON bodies, and the gate's objects rebuilt from those bodies."""
    history_body = tuple(records.dispatch_body(d) for d in dispatches)
    forecast_body = records.forecast_body(forecast) if forecast is not None else None
    return GateInputs(
        history=records.history_from([b.model_dump(mode="json") for b in history_body]),
        forecast=records.forecast_from(
            forecast_body.model_dump(mode="json") if forecast_body is not None else None
        ),
        forecast_note=note,
        history_body=history_body,
        forecast_body=forecast_body,
    )


# --- history ---------------------------------------------------------------------


def lookback(envelope: Envelope) -> timedelta:
    """The longest window a history-reading constraint of the envelope looks back over."""
    longest = timedelta(0)
    for limits in envelope.assets.values():
        if limits.rate_limit is not None:
            longest = max(longest, limits.rate_limit.window)
        if limits.switch is not None:
            longest = max(longest, limits.switch.min_on, limits.switch.min_off)
        for ramp in limits.ramps.values():
            longest = max(longest, ramp.interval)
    return longest


class SendHistory:
    """Every dispatch's first send, and the times of all sends by asset, folded from the
    log's ``dispatch.sent`` events: once, then only the ones appended since (a cursor).

    Facts of an append-only log (a first send never changes), so a projection of what
    was read, never a second source of truth. Owned by the conductor, one per log.
    """

    def __init__(self, events: EventLog) -> None:
        self.events = events
        self.seq = 0  # every send up to here is folded
        self._first: dict[str, Dispatch] = {}  # dispatch id -> its first send
        self._times: dict[str, _SendTimes] = {}  # asset -> when its dispatches were sent

    def refresh(self) -> int:
        """Fold the sends appended since the last read; how many were folded."""
        head = self.events.head()[0]  # committed before the query: the cursor may pass it
        folded = 0
        for e in self.events.events(kinds=("dispatch.sent",), after_seq=self.seq):
            self.seq, folded = e.seq, folded + 1
            did = e.dispatch_id
            if did is None:
                continue
            first = self._first.get(did)
            if first is None:
                first = _sent(self.events, did)  # its chain, read once
                if first is None:  # a send before any command: not a dispatch to recall
                    continue
                self._first[did] = first
            self._times.setdefault(first.asset, _SendTimes()).add(e.ts, did)
        self.seq = max(self.seq, head)
        return folded

    def history(
        self,
        last_key: Mapping[str, str],
        envelope: Envelope,
        asset: str,
        now: datetime,
        *,
        exclude: str | None = None,
    ) -> tuple[Dispatch, ...]:
        """``asset``'s dispatches sent in ``[now - lookback, now]``, plus its newest one.

        ``exclude``: a dispatch being re-checked (restart, dead-letter retry) is not its
        own history.
        """
        self.refresh()
        times = self._times.get(asset)
        in_window = times.between(now - lookback(envelope), now) if times else ()

        def first_send(did: str) -> Dispatch | None:
            found = self._first.get(did)
            if found is None or found.at > now:  # a log written ahead of ``now``: as of now
                found = _sent(self.events, did, now)
            return found

        return pick(in_window, last_key.get(asset), first_send, asset, now, exclude=exclude)


def pick(
    in_window: Iterable[str],
    newest: str | None,
    first_send: Callable[[str], Dispatch | None],
    asset: str,
    now: datetime,
    *,
    exclude: str | None = None,
) -> tuple[Dispatch, ...]:
    """The gate's history of ``asset``: of the dispatches sent in the lookback window
    (``in_window``, ids in send order) and the asset's newest one, those of ``asset`` first
    sent by ``now``, ordered by (time, kind, value). No I/O of its own: ``first_send``
    resolves an id.

    The conductor reads the ids from the event log; a shadow side keeps its own sends.
    """
    ids = dict.fromkeys(in_window)
    if newest is not None:
        ids[newest] = None
    out: list[Dispatch] = []
    for did in ids:
        if did == exclude:
            continue
        found = first_send(did)
        if found is not None and found.asset == asset and found.at <= now:
            out.append(found)
    return tuple(sorted(out, key=lambda d: (d.at, d.kind.value, d.value)))


class _SendTimes:
    """Send times (sorted) and their dispatch ids: the ids sent in a time window."""

    __slots__ = ("_at", "_ids")

    def __init__(self) -> None:
        self._at: list[datetime] = []
        self._ids: list[str] = []

    def add(self, at: datetime, dispatch_id: str) -> None:
        i = bisect.bisect_right(self._at, at)  # at the end, unless the log went back in time
        self._at.insert(i, at)
        self._ids.insert(i, dispatch_id)

    def between(self, since: datetime, until: datetime) -> list[str]:
        lo, hi = bisect.bisect_left(self._at, since), bisect.bisect_right(self._at, until)
        return self._ids[lo:hi]


def _sent(events: EventLog, dispatch_id: str, now: datetime | None = None) -> Dispatch | None:
    """The dispatch's command (asset, kind), first-sent time and value, as of ``now``
    (None: everything logged); None if never sent."""
    command: Mapping[str, object] | None = None
    for e in events.events(
        dispatch_id=dispatch_id,
        kinds=("dispatch.proposed", "dispatch.approved", "dispatch.sent"),
        until=now,
    ):
        if e.kind == "dispatch.approved" or (e.kind == "dispatch.proposed" and command is None):
            command = e.payload["command"]  # approved wins: v1 logs had only the proposal
        elif e.kind == "dispatch.sent" and command is not None:
            return records.command_dispatch(command, float(e.payload["value"]), e.ts)
    return None


# --- forecast --------------------------------------------------------------------


# Good samples of ``points`` in ``[since, until)`` as ``(point, ts, value)``.
Samples = Callable[[Sequence[str], datetime, datetime], Iterable[tuple[str, datetime, float]]]


def feeder_forecast(
    historian: Historian | None,
    envelope: Envelope,
    snapshot: StateSnapshot,
    command: Command,
    now: datetime,
) -> tuple[Forecast | None, str]:
    """The forecast of ``command``'s feeder over ``[now, command.end)``, or None and why."""
    samples = None if historian is None else partial(_historian_samples, historian)
    return forecast_from(samples, envelope, snapshot, command, now)


def forecast_from(
    samples: Samples | None,
    envelope: Envelope,
    snapshot: StateSnapshot,
    command: Command,
    now: datetime,
) -> tuple[Forecast | None, str]:
    """``feeder_forecast`` on any store of past telemetry (``samples``; None: there is none).

    The conductor reads the historian; a shadow side reads its own simulated telemetry.
    """
    limits = envelope.assets.get(command.asset)
    feeder_id = limits.feeder if limits is not None else None
    if feeder_id is None or feeder_id not in envelope.feeders:
        return None, f"{command.asset} is on no feeder with a thermal limit"
    if samples is None:
        return None, "no historian configured, so no load history to forecast from"
    points = feeder_points(envelope, feeder_id)
    steps = max(1, math.ceil((command.end - now) / STEP))
    since = now - SEASON
    try:
        rows = list(samples(points, since, since + steps * STEP))
    except Exception as err:  # a broken historian must not stop the gate: no forecast, say why
        return None, f"the historian could not be read ({type(err).__name__}: {err})"
    return seasonal_naive(feeder_id, points, rows, snapshot, now, steps)


def _historian_samples(
    historian: Historian, points: Sequence[str], since: datetime, until: datetime
) -> list[tuple[str, datetime, float]]:
    wanted = set(points)
    return [
        (str(p), ts, float(v))
        for p, ts, v, q in _read(historian, since, until).iter_rows()
        if q == "good" and p in wanted and isinstance(ts, datetime)
    ]


def _read(historian: Historian, since: datetime, until: datetime) -> pl.DataFrame:
    """Samples in ``[since, until)``, scanning only the day partitions the window touches
    (``Historian.read`` scans every file, which grows with the site's age)."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)  # partitions are UTC days
    files = sorted(
        path
        for day in days(since, until)
        for path in (historian.root / f"day={day.isoformat()}").glob("*.parquet")
    )
    if not files:
        return pl.DataFrame(schema=SCHEMA)
    return (
        pl.scan_parquet(files, schema=SCHEMA)
        .filter((pl.col("ts") >= since) & (pl.col("ts") < until))
        .sort("point", "ts")
        .collect()
    )


def feeder_points(envelope: Envelope, feeder_id: str) -> tuple[str, ...]:
    """The feeder's meter and its storage outputs: their sum is the uncontrolled net load
    (the gate subtracts the storage output it holds now, as for any forecast)."""
    feeder = envelope.feeders[feeder_id]
    storage = tuple(
        limits.power_point
        for limits in sorted(envelope.assets.values(), key=lambda a: a.asset)
        if limits.feeder == feeder_id
        and limits.role is AssetRole.STORAGE
        and limits.power_point is not None
    )
    return (feeder.meter_point, *storage)


def seasonal_naive(
    feeder_id: str,
    points: Sequence[str],
    rows: Iterable[tuple[str, datetime, float]],
    snapshot: StateSnapshot,
    now: datetime,
    steps: int,
    *,
    step: timedelta = STEP,
    season: timedelta = SEASON,
) -> tuple[Forecast | None, str]:
    """Level-adjusted seasonal naive of ``sum(points)`` from samples one ``season`` back. Pure.

    Step k = measured sum now + (mean of step k a season ago - mean of step 0 a season ago),
    each point averaged over its samples in the step. The series ends at the first step in
    which any point has no sample.
    """
    present = 0.0
    for point in points:
        reading = snapshot.get(point)
        if reading is None or not math.isfinite(reading.value):
            return None, f"no measured value of {point} now"
        present += reading.value
    origin = now - season
    sums: dict[tuple[str, int], list[float]] = {}
    for point, ts, value in rows:
        k = (ts - origin) // step
        if 0 <= k < steps and math.isfinite(value):
            sums.setdefault((point, k), []).append(value)
    profile: list[float] = []
    for k in range(steps):
        means = [sums.get((p, k)) for p in points]
        if any(m is None for m in means):
            break
        profile.append(sum(math.fsum(m) / len(m) for m in means if m is not None))
    if not profile:
        return None, f"no samples of {', '.join(points)} from {_span(season)} ago"
    series = tuple(present + (y - profile[0]) for y in profile)
    note = (
        f"seasonal naive ({_span(season)} back, {_span(step)} steps) level-adjusted to the "
        f"measured {present:g} kW: {len(series)} of {steps} steps"
    )
    return Forecast(start=now, step=step, feeder_net_kw={feeder_id: series}), note


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds % 86400 == 0:
        return f"{seconds / 86400:g} d"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"

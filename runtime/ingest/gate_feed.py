"""The gate's inputs read from the site's records: dispatch history from the event log,
the feeder forecast from the historian (``decide.gate_inputs`` holds the pure parts).

``SendHistory`` folds the log's sends once and then only the new ones, so a cycle gating
several commands does not re-read the log's sends for each; ``collect`` gives the gate
of one command its history and forecast, recorded as the gate took them.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import partial

import polars as pl

from runtime.decide.gate_inputs import (
    HELD,
    GateInputs,
    forecast_from,
    lookback,
    pick,
    recorded,
)
from runtime.ingest.historian import SCHEMA, Historian, days
from runtime.log import records
from runtime.log.eventlog import EventLog
from safety import Command, Dispatch, Envelope, Forecast, StateSnapshot

log = logging.getLogger(__name__)


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

"""One sample shape out of every connector, in batches (columns), normalized.

A connector decodes a message into a ``Batch`` (parallel lists, one entry per sample),
then ``Normalizer.admit`` drops duplicate messages (same source stream and sequence) and
``Normalizer.apply`` detects out-of-order and future-dated samples and flags frozen
values, updating the latest value per point. Columns, not per-sample objects, keep the
ingest path cheap; ``Batch.samples()`` gives ``Sample`` objects to consumers that want them.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntFlag

import numpy as np

from connectors import metrics
from connectors.sample import Sample, SampleQuality

log = logging.getLogger(__name__)


_QUALITIES = (SampleQuality.GOOD, SampleQuality.UNCERTAIN, SampleQuality.BAD)
_QCODE = {q: i for i, q in enumerate(_QUALITIES)}


def _epoch_seconds(stamps: list[datetime]) -> list[float]:
    """POSIX seconds of each stamp; a batch's samples often share one, so convert runs once."""
    out: list[float] = []
    append = out.append
    prev: datetime | None = None
    prev_s = 0.0
    for t in stamps:
        if t is not prev and t != prev:
            prev = t
            prev_s = t.timestamp()
        append(prev_s)
    return out


class SampleFlag(IntFlag):
    NONE = 0
    OUT_OF_ORDER = 1  # older than the newest sample of its point: not applied
    FUTURE = 2  # source timestamp ahead of the receive time: quality set to bad, not applied
    FROZEN = 4  # value unchanged while timestamps advance for frozen_after_s (quality kept:
    # an idle battery's 0 kW is legitimately constant; consumers decide what frozen means)


@dataclass(slots=True, kw_only=True)
class Batch:
    """Samples of one message from one stream (a device, a subscription), as columns."""

    source: str
    stream: str
    sequence: int
    received_ts: datetime
    points: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    qualities: list[SampleQuality] = field(default_factory=list)
    source_ts: list[datetime] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    server_ts: list[datetime | None] | None = None  # OPC UA only

    def __len__(self) -> int:
        return len(self.points)

    def append(
        self, point: str, value: float, unit: str, quality: SampleQuality, source_ts: datetime
    ) -> None:
        self.points.append(point)
        self.values.append(value)
        self.units.append(unit)
        self.qualities.append(quality)
        self.source_ts.append(source_ts)
        self.flags.append(0)

    def samples(self, *, include_out_of_order: bool = False) -> Iterator[Sample]:
        for i, point in enumerate(self.points):
            if self.flags[i] & SampleFlag.OUT_OF_ORDER and not include_out_of_order:
                continue
            yield Sample(
                point=point,
                value=self.values[i],
                unit=self.units[i],
                quality=self.qualities[i],
                source_ts=self.source_ts[i],
                received_ts=self.received_ts,
                sequence=self.sequence,
                server_ts=self.server_ts[i] if self.server_ts is not None else None,
                flags=self.flags[i],
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class NormalizeConfig:
    future_tolerance_s: float = 5.0
    frozen_after_s: float | None = 900.0
    sequence_window: int = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class Latest:
    point: str
    value: float
    ts_s: float
    quality: SampleQuality


class _Stream:
    __slots__ = ("last", "order", "seen")

    def __init__(self) -> None:
        self.last = -1
        self.seen: set[int] = set()
        self.order: deque[int] = deque()


class Normalizer:
    """Per-source normalization state: sequences per stream, latest value per point.

    The latest-value table is columnar (numpy arrays indexed by point); a batch is
    checked and applied with a handful of vector operations, not a Python loop per sample.
    """

    def __init__(self, source: str, config: NormalizeConfig | None = None) -> None:
        self.source = source
        self.config = config or NormalizeConfig()
        self._streams: dict[str, _Stream] = {}
        self._index: dict[str, int] = {}
        self._points: list[str] = []
        self._layouts: dict[tuple[str, ...], np.ndarray | None] = {}
        self._last_ts = np.full(64, -np.inf)
        self._last_value = np.full(64, np.nan)
        self._run_start = np.zeros(64)
        self._quality = np.full(64, _QCODE[SampleQuality.BAD], dtype=np.int8)
        self.counts = {"duplicate": 0, "out_of_order": 0, "future": 0, "frozen": 0, "gap": 0}
        self._m_samples = metrics.SAMPLES.labels(source)
        self._m_flag = {
            name: metrics.FLAGGED.labels(source, name)
            for name in ("duplicate", "out_of_order", "future", "frozen")
        }

    # --- messages -----------------------------------------------------------

    def admit(self, stream: str, sequence: int) -> bool:
        """False if this stream already delivered ``sequence`` (a duplicate): drop it."""
        s = self._streams.get(stream)
        if s is None:
            s = self._streams[stream] = _Stream()
        if sequence in s.seen:
            self.counts["duplicate"] += 1
            self._m_flag["duplicate"].inc()
            return False
        window = self.config.sequence_window
        if s.last >= 0 and sequence < s.last - window:
            log.info(
                "source %s: stream %s restarted its sequence (%d after %d)",
                self.source,
                stream,
                sequence,
                s.last,
            )
            s.seen.clear()
            s.order.clear()
            s.last = -1
        if s.last >= 0 and sequence > s.last + 1:
            self.counts["gap"] += sequence - s.last - 1
        s.last = max(s.last, sequence)
        s.seen.add(sequence)
        s.order.append(sequence)
        if len(s.order) > window:
            s.seen.discard(s.order.popleft())
        return True

    def forget_stream(self, stream: str) -> None:
        """A stream announced a new session (Sparkplug birth): its sequence starts again."""
        self._streams.pop(stream, None)

    # --- samples ------------------------------------------------------------

    def _slot(self, point: str) -> int:
        j = self._index.get(point)
        if j is None:
            j = self._index[point] = len(self._points)
            self._points.append(point)
            if j >= len(self._last_ts):
                grow = len(self._last_ts)
                self._last_ts = np.concatenate([self._last_ts, np.full(grow, -np.inf)])
                self._last_value = np.concatenate([self._last_value, np.full(grow, np.nan)])
                self._run_start = np.concatenate([self._run_start, np.zeros(grow)])
                self._quality = np.concatenate(
                    [self._quality, np.full(grow, _QCODE[SampleQuality.BAD], dtype=np.int8)]
                )
        return j

    def _layout(self, points: list[str]) -> np.ndarray | None:
        """Slots of a batch's points, cached per point list (devices repeat theirs)."""
        key = tuple(points)
        if key in self._layouts:
            return self._layouts[key]
        slots = np.array([self._slot(p) for p in points], dtype=np.intp)
        layout = slots if len(set(key)) == len(key) else None  # repeats: sample by sample
        if len(self._layouts) < 10_000:
            self._layouts[key] = layout
        return layout

    def apply(self, batch: Batch) -> None:
        """Flag the batch in place and update the latest value of each point."""
        n = len(batch.points)
        if n == 0:
            return
        layout = self._layout(batch.points)
        if layout is None:
            for i in range(n):
                self._apply(batch, [i], np.array([self._slot(batch.points[i])], dtype=np.intp))
        else:
            self._apply(batch, range(n), layout)
        self._m_samples.inc(n)

    def _apply(self, batch: Batch, sel: Sequence[int], slots: np.ndarray) -> None:
        whole = len(sel) == len(batch.points)
        src = batch.source_ts if whole else [batch.source_ts[i] for i in sel]
        ts = np.array(_epoch_seconds(src))
        values = np.array(batch.values if whole else [batch.values[i] for i in sel])
        qualities = batch.qualities if whole else [batch.qualities[i] for i in sel]
        horizon = batch.received_ts.timestamp() + self.config.future_tolerance_s
        future = ts > horizon
        late = ts < self._last_ts[slots]
        late &= ~future
        ok = ~(future | late)
        same = values == self._last_value[slots]
        frozen_after = self.config.frozen_after_s
        if frozen_after is not None:
            frozen = ok & same & (ts - self._run_start[slots] >= frozen_after)
        else:
            frozen = np.zeros(len(ts), dtype=bool)
        changed = ok & ~same
        self._run_start[slots[changed]] = ts[changed]
        keep = slots[ok]
        self._last_ts[keep] = ts[ok]
        self._last_value[keep] = values[ok]
        if qualities.count(SampleQuality.GOOD) == len(qualities):
            codes = np.zeros(len(qualities), dtype=np.int8)
        else:
            codes = np.array([_QCODE[q] for q in qualities], dtype=np.int8)
        if future.any():
            for k in np.flatnonzero(future).tolist():
                batch.qualities[sel[k]] = SampleQuality.BAD
        self._quality[keep] = codes[ok]
        n_future, n_late, n_frozen = int(future.sum()), int(late.sum()), int(frozen.sum())
        if n_future or n_late or n_frozen:
            flags = (
                late * int(SampleFlag.OUT_OF_ORDER)
                | future * int(SampleFlag.FUTURE)
                | frozen * int(SampleFlag.FROZEN)
            )
            for k in np.flatnonzero(flags).tolist():
                batch.flags[sel[k]] |= int(flags[k])
        if n_late:
            self.counts["out_of_order"] += n_late
            self._m_flag["out_of_order"].inc(n_late)
        if n_future:
            self.counts["future"] += n_future
            self._m_flag["future"].inc(n_future)
        if n_frozen:
            self.counts["frozen"] += n_frozen
            self._m_flag["frozen"].inc(n_frozen)

    def latest(self, point: str) -> Latest | None:
        j = self._index.get(point)
        if j is None or self._last_ts[j] == -np.inf:
            return None
        return Latest(
            point=point,
            value=float(self._last_value[j]),
            ts_s=float(self._last_ts[j]),
            quality=_QUALITIES[int(self._quality[j])],
        )

    def __len__(self) -> int:
        return len(self._points)

"""One sample shape out of every connector, in batches (columns), normalized.

A connector decodes a message into a ``Batch`` (parallel lists, one entry per sample),
then ``Normalizer.admit`` drops duplicate messages (same source stream and sequence) and
``Normalizer.apply`` detects out-of-order and future-dated samples and flags frozen
values, updating the latest value per point. Columns, not per-sample objects, keep the
ingest path cheap; ``Batch.samples()`` gives ``Sample`` objects to consumers that want them.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntFlag

from connectors import metrics
from connectors.sample import Sample, SampleQuality

log = logging.getLogger(__name__)


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
    """Per-source normalization state: sequences per stream, latest value per point."""

    def __init__(self, source: str, config: NormalizeConfig | None = None) -> None:
        self.source = source
        self.config = config or NormalizeConfig()
        self._streams: dict[str, _Stream] = {}
        self._index: dict[str, int] = {}
        self._points: list[str] = []
        self._last_ts: list[float] = []
        self._last_value: list[float] = []
        self._run_start: list[float] = []
        self._quality: list[SampleQuality] = []
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

    def apply(self, batch: Batch) -> None:
        """Flag the batch in place and update the latest value of each point."""
        horizon = batch.received_ts.timestamp() + self.config.future_tolerance_s
        frozen_after = self.config.frozen_after_s
        index = self._index
        last_ts = self._last_ts
        last_value = self._last_value
        run_start = self._run_start
        last_quality = self._quality
        flags = batch.flags
        qualities = batch.qualities
        n_ooo = n_future = n_frozen = 0
        for i, (point, value, ts) in enumerate(
            zip(batch.points, batch.values, batch.source_ts, strict=True)
        ):
            ts_s = ts.timestamp()
            j = index.get(point)
            if j is None:
                j = index[point] = len(last_ts)
                self._points.append(point)
                last_ts.append(-math.inf)
                last_value.append(math.nan)
                run_start.append(ts_s)
                last_quality.append(SampleQuality.BAD)
            if ts_s > horizon:
                flags[i] |= SampleFlag.FUTURE
                qualities[i] = SampleQuality.BAD
                n_future += 1
                continue
            prev = last_ts[j]
            if ts_s < prev:
                flags[i] |= SampleFlag.OUT_OF_ORDER
                n_ooo += 1
                continue
            if value == last_value[j]:
                if frozen_after is not None and ts_s - run_start[j] >= frozen_after:
                    flags[i] |= SampleFlag.FROZEN
                    n_frozen += 1
            else:
                run_start[j] = ts_s
            last_ts[j] = ts_s
            last_value[j] = value
            last_quality[j] = qualities[i]
        self._m_samples.inc(len(flags))
        if n_ooo:
            self.counts["out_of_order"] += n_ooo
            self._m_flag["out_of_order"].inc(n_ooo)
        if n_future:
            self.counts["future"] += n_future
            self._m_flag["future"].inc(n_future)
        if n_frozen:
            self.counts["frozen"] += n_frozen
            self._m_flag["frozen"].inc(n_frozen)

    def latest(self, point: str) -> Latest | None:
        j = self._index.get(point)
        if j is None or self._last_ts[j] == -math.inf:
            return None
        return Latest(
            point=point,
            value=self._last_value[j],
            ts_s=self._last_ts[j],
            quality=self._quality[j],
        )

    def __len__(self) -> int:
        return len(self._points)

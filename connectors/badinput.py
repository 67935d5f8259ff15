"""Bad input: a closed set of reasons, counted per reason and kept raw in the dead-letter sink."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from connectors import metrics
from connectors.deadletter import DeadLetterSink

log = logging.getLogger(__name__)


class BadInputReason(StrEnum):
    MALFORMED_JSON = "malformed_json"
    MALFORMED_PROTOBUF = "malformed_protobuf"
    WRONG_TYPE = "wrong_type"
    NOT_FINITE = "not_finite"
    UNKNOWN_TOPIC = "unknown_topic"
    UNKNOWN_POINT = "unknown_point"
    UNIT_MISMATCH = "unit_mismatch"
    OVERSIZED = "oversized"
    UNKNOWN_ALIAS = "unknown_alias"
    SEQUENCE = "sequence"


class BadInput:
    """Counts bad input of one source and keeps its raw bytes.

    Dead letters are rate-limited per source (``max_per_minute``) so a broken device that
    floods the broker cannot fill the disk of the edge box; the counters still count
    every refused input, and suppressed dead letters are counted too.
    """

    def __init__(
        self,
        source: str,
        sink: DeadLetterSink | None,
        clock: Callable[[], datetime],
        *,
        max_per_minute: int = 600,
    ) -> None:
        self.source = source
        self._sink = sink
        self._clock = clock
        self._max = max_per_minute
        self._window_start: datetime | None = None
        self._in_window = 0
        self._warned: set[str] = set()
        self.counts: dict[str, int] = {}

    def report(
        self,
        reason: BadInputReason,
        detail: str,
        payload: bytes,
        *,
        kind: str = "telemetry",
        count: int = 1,
    ) -> None:
        self.counts[reason.value] = self.counts.get(reason.value, 0) + count
        metrics.BAD_INPUT.labels(self.source, reason.value).inc(count)
        if reason.value not in self._warned:
            self._warned.add(reason.value)
            log.warning("source %s: bad input (%s): %s", self.source, reason.value, detail)
        if self._sink is None:
            return
        now = self._clock()
        if self._window_start is None or (now - self._window_start).total_seconds() >= 60:
            self._window_start = now
            self._in_window = 0
        if self._in_window >= self._max:
            metrics.DEAD_LETTERS.labels(self.source, "suppressed").inc()
            return
        self._in_window += 1
        try:
            self._sink(kind, self.source, f"{reason.value}: {detail}", payload, now)
        except Exception:  # the sink must never take the pipeline down
            log.exception("source %s: dead-letter sink failed", self.source)
            metrics.DEAD_LETTERS.labels(self.source, "failed").inc()
            return
        metrics.DEAD_LETTERS.labels(self.source, "stored").inc()

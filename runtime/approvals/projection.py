"""The approval book and its figures, kept up to date from the log's new events.

``approvals.pending(log)`` and ``approvals.metrics(log, now)`` fold every approval event
of the log on each call: right for a one-shot CLI, too slow for what the console and
Prometheus poll (the cost grows with the log). ``ApprovalProjection`` keeps both folds
and a cursor (the seq of the last event folded), like ``runtime.log.dispatch.Projections``;
each read folds only the events appended since, by any process, so it costs the new
events only and answers exactly what the full fold answers (the same ``BookFold`` and
``MetricsFold`` step functions: the rules live in one place).

Nothing is snapshotted: a projection built on an existing log (a restart) folds it
once, on its first read. Thread-safe (the API serves from a thread pool).
"""

from __future__ import annotations

import threading
from datetime import datetime

from runtime.approvals.book import BOOK_KINDS, BookFold, PendingApproval
from runtime.approvals.views import METRICS_KINDS, ApprovalMetrics, MetricsFold
from runtime.log.eventlog import EventLog

KINDS = tuple(dict.fromkeys((*BOOK_KINDS, *METRICS_KINDS)))


class ApprovalProjection:
    """``pending()`` and ``metrics(now)`` of one event log, folded incrementally."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.seq = 0  # every approval event up to here is folded
        # closed requests are not kept: the book's reads here need only the open ones
        self._book = BookFold(closed=None)
        self._figures = MetricsFold()
        self._lock = threading.Lock()

    def refresh(self) -> int:
        """Fold the events appended since the last read; how many were folded."""
        with self._lock:
            return self._refresh()

    def _refresh(self) -> int:
        # Every record up to the head read first was committed before the query below, so
        # the cursor may pass it: the next read starts after the other kinds' records too.
        head = self.log.head()[0]
        folded = 0
        for event in self.log.events(kinds=KINDS, after_seq=self.seq):
            self._book.apply(event)
            self._figures.apply(event)
            self.seq = event.seq
            folded += 1
        self.seq = max(self.seq, head)
        return folded

    def pending(self) -> list[PendingApproval]:
        """Every dispatch waiting for an operator, oldest first (as ``approvals.pending``)."""
        with self._lock:
            self._refresh()
            return list(self._book.open.values())

    def metrics(self, now: datetime) -> ApprovalMetrics:
        """Counts and decision times over the whole log (as ``approvals.metrics``)."""
        with self._lock:
            self._refresh()
            return self._figures.figures(now)

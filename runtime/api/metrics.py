"""Prometheus metrics: API requests and auth failures (counted here), approval and dispatch
figures (derived from the event log, so they survive a restart: folded from the whole log
once, then from the records appended since the last scrape)."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.api.queries import Queries
from runtime.approvals.projection import ApprovalProjection
from runtime.core.clock import Clock

BUCKETS_S = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)


class KindCounts:
    """Events per kind under ``prefix``, counted once: each read counts the new records only."""

    def __init__(self, queries: Queries, prefix: str) -> None:
        self.queries, self.prefix = queries, prefix
        self.seq = 0  # every record up to here is counted
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def read(self) -> dict[str, int]:
        with self._lock:
            head = self.queries.head_seq()  # records up to it are committed: count up to it
            if head > self.seq:
                new = self.queries.kind_counts(self.prefix, after_seq=self.seq, until_seq=head)
                for kind, n in new.items():
                    self._counts[kind] = self._counts.get(kind, 0) + n
                self.seq = head
            return dict(self._counts)


class _LogCollector(Collector):
    def __init__(self, book: ApprovalProjection, queries: Queries, clock: Clock) -> None:
        self.book, self.clock = book, clock
        self.dispatch_counts = KindCounts(queries, "dispatch.")

    def collect(self) -> Iterator[Any]:
        figures = self.book.metrics(self.clock())
        observed = sorted(figures.time_to_decision_s)
        buckets = [(f"{b:g}", bisect.bisect_right(observed, b)) for b in BUCKETS_S]
        buckets.append(("+Inf", len(observed)))
        yield HistogramMetricFamily(
            "gridaios_approvals_time_to_decision_seconds",
            "time from an approval request to the operators' decision",
            buckets=buckets,
            sum_value=sum(observed),
        )
        yield CounterMetricFamily(
            "gridaios_approvals_expired",
            "approval requests that expired without a decision (safe default kept)",
            value=figures.expired,
        )
        yield CounterMetricFamily(
            "gridaios_approvals_escalated",
            "approval requests escalated for being unanswered",
            value=figures.escalated,
        )
        yield GaugeMetricFamily(
            "gridaios_human_intervention_rate",
            "share of dispatches that needed an operator's sign-off",
            value=figures.human_intervention_rate,
        )
        yield GaugeMetricFamily(
            "gridaios_approvals_pending",
            "dispatches awaiting an operator now",
            value=figures.pending,
        )
        dispatch = CounterMetricFamily(
            "gridaios_dispatch_events", "dispatch events in the log, by kind", labels=["kind"]
        )
        for kind, n in sorted(self.dispatch_counts.read().items()):
            dispatch.add_metric([kind], n)
        yield dispatch


class ApiMetrics:
    def __init__(self, book: ApprovalProjection, queries: Queries, clock: Clock) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gridaios_api_requests",
            "HTTP requests served, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "gridaios_api_auth_failures",
            "failed logins and rejected tokens, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.registry.register(_LogCollector(book, queries, clock))

    def auth_failure(self, reason: str) -> None:
        self.auth_failures.labels(reason=reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestCounter:
    """ASGI middleware: counts every HTTP response by its route template (bounded labels)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None)
            label = (
                route
                if route is not None
                else ("/api/unmatched" if scope["path"].startswith("/api") else "static")
            )
            self.metrics.requests.labels(scope["method"], label, str(status)).inc()

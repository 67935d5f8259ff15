"""One DR event's M&V report: its window and commitment from the event log, the feeder
meter from the historian (or the log's telemetry), the program's baseline method
(``runtime.decide.dr_mv``), rendered as text, JSON or a self-contained HTML page with an SVG
plot (docs/dr.md). The shell around the pure M&V.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from runtime.config.model import SiteConfig
from runtime.config.openadr import BaselineConfig
from runtime.core.errors import GridaiosError
from runtime.decide.dr_mv import (
    LEVEL_SHARE,
    HighXOfY,
    Method,
    MvError,
    MvResult,
    TemperatureRegression,
    baseline,
    resample,
)
from runtime.decide.dr_mv import verify as mv_verify
from runtime.log.eventlog import EventLog


class ReportError(GridaiosError):
    """No such event, or not enough data: the message says which and what to do."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EventWindow:
    event_id: str
    program: str
    start: datetime
    end: datetime
    parts: tuple[dict[str, Any], ...]  # the internal events (one per interval), last revision
    event_days: frozenset[date]


def find_event(log: EventLog, event_id: str, tz: tzinfo = UTC) -> EventWindow:
    """The accepted internal events of ``event_id`` (``ID`` or ``ID.<n>``), last revision
    each; the other DR events' days are local dates in ``tz`` (the site's time zone), by
    their last revision: an event cancelled later leaves its day a normal day."""
    parts: dict[str, dict[str, Any]] = {}
    others: dict[str, dict[str, Any]] = {}  # the other internal events, last revision each
    via = ""
    for e in log.events(kinds=("agent.dr_event_accepted",)):
        body = dict(e.payload.get("event") or {})
        eid = str(body.get("event_id", ""))
        if eid == event_id or eid.startswith(f"{event_id}."):
            parts[eid] = body
            via = str(e.payload.get("via", ""))
        else:
            others[eid] = body
    days: set[date] = {
        datetime.fromisoformat(str(b["start"])).astimezone(tz).date()
        for b in others.values()
        if b.get("status", "active") == "active"
    }
    live = [p for p in parts.values() if p.get("status", "active") == "active"]
    if not parts:
        raise ReportError(
            f"dr event {event_id}: not in the event log; see the agent.dr_event_accepted "
            "events (`gridaios audit show`) for the ids"
        )
    if not live:
        raise ReportError(f"dr event {event_id}: cancelled; nothing was to be delivered")
    start = min(datetime.fromisoformat(str(p["start"])) for p in live)
    end = max(datetime.fromisoformat(str(p["end"])) for p in live)
    days.discard(start.astimezone(tz).date())
    program = via.partition(":")[2] if via.startswith("openadr") else ""
    return EventWindow(
        event_id=event_id,
        program=program,
        start=start,
        end=end,
        parts=tuple(sorted(live, key=lambda p: str(p["start"]))),
        event_days=frozenset(days),
    )


def method_for(config: SiteConfig | None, program: str) -> tuple[Method, BaselineConfig]:
    base = BaselineConfig()
    if config is not None and config.openadr is not None:
        found = config.openadr.program(program) or (
            config.openadr.programs[0] if len(config.openadr.programs) == 1 else None
        )
        if found is not None:
            base = found.baseline
    if base.method == "temperature_regression":
        return TemperatureRegression(y=base.y, weekdays_only=base.weekdays_only), base
    method = HighXOfY(
        x=base.x,
        y=base.y,
        adjust_hours=base.adjust_hours,
        adjust_gap_hours=base.adjust_gap_hours,
        adjust_cap=base.adjust_cap,
        weekdays_only=base.weekdays_only,
    )
    return method, base


class History(Protocol):
    """What the report reads the meter from: ``runtime.ingest.historian.Historian`` fits."""

    def read(
        self,
        *,
        point: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Any: ...


def _samples(
    log: EventLog, history: History | None, point: str, since: datetime, until: datetime
) -> list[tuple[datetime, float]]:
    if history is not None:
        frame = history.read(point=point, since=since, until=until)
        if frame.height:
            return list(zip(frame["ts"].to_list(), frame["value"].to_list(), strict=True))
    out: list[tuple[datetime, float]] = []
    for e in log.events(kinds=("telemetry.sample",), since=since, until=until):
        if e.payload.get("point") == point:
            out.append((e.ts, float(e.payload["value"])))
    return out


def committed(
    window: EventWindow, baseline_kw: dict[datetime, float], level_kw: float, step: timedelta
) -> dict[datetime, float]:
    """The reduction asked for per interval: baseline - target, or the level's share."""
    out: dict[datetime, float] = {}
    for t, base in baseline_kw.items():
        mid = t + step / 2
        ask = 0.0
        for p in window.parts:
            if (
                not datetime.fromisoformat(str(p["start"]))
                <= mid
                < datetime.fromisoformat(str(p["end"]))
            ):
                continue
            if p.get("target_kw") is not None:
                ask = max(ask, base - float(p["target_kw"]))
            elif p.get("signal_level") is not None:
                ask = max(ask, LEVEL_SHARE[int(p["signal_level"])] * level_kw)
        out[t] = max(ask, 0.0)
    return out


def report(
    log: EventLog,
    event_id: str,
    *,
    config: SiteConfig | None,
    history: History | None,
    point: str | None = None,
) -> tuple[EventWindow, MvResult]:
    # the baseline's days and times of day are the site's, as its load follows them
    tz: tzinfo = ZoneInfo(config.safety.timezone) if config is not None else UTC
    window = find_event(log, event_id, tz)
    method, base = method_for(config, window.program)
    step = timedelta(seconds=base.interval_s)
    meter = point or (f"{config.feeder.meter}.p_kw" if config is not None else None)
    if meter is None:
        raise ReportError("give --config SITE (the feeder meter) or --point ASSET.p_kw")
    lookback = timedelta(days=method.lookback_days + 1)
    since = window.start - lookback
    # intervals from the event's start: an event at 17:10 has 17:10, 17:25, ... intervals
    load = resample(_samples(log, history, meter, since, window.end), step, origin=window.start)
    temperature = None
    if isinstance(method, TemperatureRegression) and base.temperature_point is not None:
        temperature = resample(
            _samples(log, history, base.temperature_point, since, window.end),
            step,
            origin=window.start,
        )
    level_kw = 0.0
    if config is not None:
        bat = config.agents.dr_events.battery or config.policy.peak_shaving.battery
        level_kw = config.battery(bat).max_discharge_kw
    try:
        base_kw, _, _ = baseline(
            method,
            load,
            window.start,
            window.end,
            step,
            event_days=window.event_days,
            temperature=temperature,
            tz=tz,
        )
        result = mv_verify(
            method,
            load,
            window.start,
            window.end,
            step,
            committed_kw=committed(window, base_kw, level_kw, step),
            event_days=window.event_days,
            temperature=temperature,
            tz=tz,
        )
    except MvError as err:
        raise ReportError(f"dr event {event_id}: {err}") from err
    return window, result


def as_json(window: EventWindow, result: MvResult) -> dict[str, Any]:
    return {
        "event_id": window.event_id,
        "program": window.program,
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        **result.as_json(),
    }


def as_text(window: EventWindow, result: MvResult) -> str:
    lines = [
        f"DR event {window.event_id} ({window.program or 'no program'}): "
        f"{window.start.isoformat()} .. {window.end.isoformat()}",
        f"baseline {result.method}, days {', '.join(d.isoformat() for d in result.days_used)}, "
        f"same-day factor {result.adjustment:.3f}",
        f"{'interval':<26}{'baseline kW':>12}{'actual kW':>11}{'delivered':>11}"
        f"{'committed':>11}{'shortfall':>11}",
    ]
    if result.days_warning is not None:
        lines.insert(2, f"WARNING: {result.days_warning}")
    for i in result.intervals:
        lines.append(
            f"{i.start.isoformat():<26}{i.baseline_kw:>12.1f}{i.actual_kw:>11.1f}"
            f"{i.delivered_kw:>11.1f}{i.committed_kw:>11.1f}{i.shortfall_kw:>11.1f}"
        )
    lines.append(
        f"delivered {result.delivered_kwh:.1f} kWh (mean {result.mean_delivered_kw:.1f} kW), "
        f"committed {result.committed_kwh:.1f} kWh, shortfall {result.shortfall_kwh:.1f} kWh"
    )
    return "\n".join(lines)


def svg_plot(result: MvResult, width: int = 720, height: int = 300) -> str:
    """Baseline and actual load per interval, as an inline SVG (no plotting library)."""
    rows = result.intervals
    values = [v for r in rows for v in (r.baseline_kw, r.actual_kw)] or [0.0]
    lo, hi = min(0.0, min(values)), max(values) * 1.1 or 1.0
    pad = 50
    n = max(len(rows), 1)

    def xy(i: int, v: float) -> str:
        x = pad + (width - 2 * pad) * (i + 0.5) / n
        y = height - pad - (height - 2 * pad) * (v - lo) / (hi - lo)
        return f"{x:.1f},{y:.1f}"

    base = " ".join(xy(i, r.baseline_kw) for i, r in enumerate(rows))
    actual = " ".join(xy(i, r.actual_kw) for i, r in enumerate(rows))
    labels = "".join(
        f'<text x="{xy(i, lo).split(",")[0]}" y="{height - pad + 16}" font-size="10" '
        f'text-anchor="middle">{html.escape(r.start.strftime("%H:%M"))}</text>'
        for i, r in enumerate(rows)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="baseline and actual load">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        f'stroke="#444"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" '
        f'stroke="#444"/>'
        f'<text x="{pad}" y="{pad - 10}" font-size="11">kW (max {hi:.0f})</text>'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{base}"/>'
        f'<polyline fill="none" stroke="#d62728" stroke-width="2" points="{actual}"/>'
        f'<text x="{width - pad - 160}" y="{pad}" font-size="11" fill="#1f77b4">baseline</text>'
        f'<text x="{width - pad - 80}" y="{pad}" font-size="11" fill="#d62728">actual</text>'
        f"{labels}</svg>"
    )


def as_html(window: EventWindow, result: MvResult) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(i.start.isoformat())}</td><td>{i.baseline_kw:.1f}</td>"
        f"<td>{i.actual_kw:.1f}</td><td>{i.delivered_kw:.1f}</td><td>{i.committed_kw:.1f}</td>"
        f"<td>{i.shortfall_kw:.1f}</td></tr>"
        for i in result.intervals
    )
    title = html.escape(f"DR event {window.event_id}: measurement and verification")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>{html.escape(window.program or 'no program')}, "
        f"{html.escape(window.start.isoformat())} .. {html.escape(window.end.isoformat())}; "
        f"baseline {html.escape(result.method)} (factor {result.adjustment:.3f})</p>"
        + (
            f"<p><b>warning</b>: {html.escape(result.days_warning)}</p>"
            if result.days_warning is not None
            else ""
        )
        + f"{svg_plot(result)}"
        f"<p>delivered <b>{result.delivered_kwh:.1f} kWh</b>, committed "
        f"{result.committed_kwh:.1f} kWh, shortfall <b>{result.shortfall_kwh:.1f} kWh</b></p>"
        "<table border='1' cellpadding='4'><tr><th>interval</th><th>baseline kW</th>"
        "<th>actual kW</th><th>delivered kW</th><th>committed kW</th><th>shortfall kW</th></tr>"
        f"{rows}</table></body></html>"
    )


__all__ = ["EventWindow", "ReportError", "as_html", "as_json", "as_text", "find_event", "report"]

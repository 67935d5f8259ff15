"""The canary comparison, built from the ``canary.decision`` events a conductor recorded."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from runtime.log.eventlog import EventLog
from runtime.shadow.canary import load_state
from runtime.shadow.report import difference_table, esc, figure_png, image, page, write

DISPATCHED = ("auto", "needs_approval")


def _decisions(log: EventLog, since_seq: int) -> list[tuple[datetime, dict[str, Any]]]:
    return [
        (e.ts, dict(e.payload)) for e in log.events(kinds=("canary.decision",), after_seq=since_seq)
    ]


def _side_counts(rows: list[tuple[datetime, dict[str, Any]]], side: str) -> dict[str, int]:
    flat = [d for _, p in rows for d in p.get(side, [])]
    return {
        "proposals": len(flat),
        "would_dispatch": sum(1 for d in flat if d["outcome"] in DISPATCHED),
        "gate_rejections": sum(1 for d in flat if d["outcome"] == "rejected"),
        "validation_blocks": sum(1 for d in flat if d["outcome"] == "blocked"),
        "human_interventions": sum(1 for d in flat if d["outcome"] == "needs_approval"),
    }


def summarize(log: EventLog) -> dict[str, Any]:
    """The canary in progress (or, when none is active, the last one) and how it compares."""
    state = load_state(log)
    since = state.started_seq - 1 if state.active is not None else _last_start(log)
    rows = _decisions(log, max(since, 0))
    candidate = state.active or (rows[-1][1]["candidate"] if rows else None)
    return {
        "production": state.production,
        "active": state.active,
        "started_at": state.started_at.isoformat() if state.started_at else None,
        "candidate": candidate,
        "cycles": len(rows),
        "decisions_differ": sum(1 for _, p in rows if p.get("differ")),
        "production_kpis": _side_counts(rows, "production_decisions"),
        "candidate_kpis": _side_counts(rows, "candidate_decisions"),
    }


def _last_start(log: EventLog) -> int:
    last = 0
    for e in log.events(kinds=("canary.started",)):
        last = e.seq - 1
    return last


def _describe(decisions: list[dict[str, Any]]) -> str:
    if not decisions:
        return "no proposal"
    return "; ".join(
        f"{d['asset']} {d['proposed_kw']:g} kW"
        + (f" by {d['tier']}" if d.get("tier") else "")
        + f" -> {d['outcome']}"
        + (f" {d['value_kw']:g} kW" if d.get("value_kw") is not None else "")
        + (f" ({d['reason']})" if d.get("reason") else "")
        for d in decisions
    )


def _plot(rows: list[tuple[datetime, dict[str, Any]]]) -> str | None:
    def setpoint(p: dict[str, Any], side: str) -> float | None:
        ds = [d for d in p.get(side, []) if d["outcome"] in DISPATCHED]
        return float(ds[-1]["value_kw"]) if ds else None

    t = [ts for ts, _ in rows]

    def draw(axes: Any) -> None:
        meter = [p.get("inputs", {}).get("meter_p_kw") for _, p in rows]
        axes[0].plot(t, meter, color="tab:blue", label="feeder load (live)")
        axes[0].set_ylabel("feeder load kW")
        axes[0].legend(loc="upper left")
        for side, color, marker in (
            ("production_decisions", "tab:blue", "o"),
            ("candidate_decisions", "tab:orange", "x"),
        ):
            points = [(ts, v) for ts, p in rows if (v := setpoint(p, side)) is not None]
            if points:
                axes[1].scatter(
                    [a for a, _ in points],
                    [b for _, b in points],
                    color=color,
                    marker=marker,
                    label=side.split("_")[0],
                )
        axes[1].set_ylabel("decided setpoint kW")
        axes[1].legend(loc="upper left")

    return figure_png(draw, 2) if rows else None


def canary_html(log: EventLog) -> str:
    summary = summarize(log)
    state = load_state(log)
    since = state.started_seq - 1 if state.active is not None else _last_start(log)
    rows = _decisions(log, max(since, 0))
    prod, cand = summary["production_kpis"], summary["candidate_kpis"]
    table = ["<table id=kpis><tr><th>KPI</th><th>production</th><th>candidate</th></tr>"]
    for key in prod:
        table.append(
            f"<tr><td>{esc(key)}</td><td class=num>{prod[key]}</td>"
            f"<td class=num>{cand[key]}</td></tr>"
        )
    table.append("</table>")
    differ = [
        (
            ts,
            _describe(p.get("production_decisions", [])),
            _describe(p.get("candidate_decisions", [])),
        )
        for ts, p in rows
        if p.get("differ")
    ]
    status = "active" if summary["active"] else "not active (last canary shown)"
    return page(
        f"gridaios canary: {summary['candidate']} next to {summary['production']}",
        [
            f"<p>Canary {status}; {summary['cycles']} live cycles recorded, decisions differ in "
            f"<b>{summary['decisions_differ']}</b>. The candidate's decisions were recorded, "
            "never dispatched.</p>",
            "<h2>Live feeder load and decided setpoints</h2>",
            image(_plot(rows), "live load and both sides' decided setpoints"),
            "<h2>KPIs (decisions)</h2>",
            "".join(table),
            "<h2>Decisions that differ</h2>",
            difference_table(differ),
        ],
    )


def write_report(log: EventLog, path: Path) -> Path:
    return write(path, canary_html(log))

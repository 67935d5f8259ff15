"""Questions answered from the record: live readings, pending approvals, what happened, why.

Every number in an answer is read from a named field (a telemetry sample's
``value`` and its time, an approval request's ``value``, a dispatch chain's
events, a forecast's ``peak_kw``), and the answer names where it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from runtime.log.eventlog import EventLog
from runtime.words.narrate import narrate
from runtime.words.understand import Question
from runtime.words.vocab import Vocabulary

#: (peak kW, when) of the coming evening, or None when no forecast is available.
ForecastPeak = Callable[[], tuple[float, datetime] | None]
_POINT_WORDS = {"soc_pct": ("state of charge", "%"), "p_kw": ("power", "kW")}


def answer(
    q: Question,
    log: EventLog | None,
    vocab: Vocabulary,
    now: datetime,
    zone: ZoneInfo,
    *,
    max_age_s: float = 120,
    forecast_peak: ForecastPeak | None = None,
    live: Callable[[str], tuple[float, datetime, str] | None] | None = None,
) -> str:
    if q.topic == "forecast":
        got = forecast_peak() if forecast_peak else None
        if got is None:
            return (
                "No forecast is available here (the running runtime's forecast engine answers "
                "this: gridaios ask --api)."
            )
        kw, at = got
        return (
            f"The forecast feeder peak is {kw:.0f} kW at {at.astimezone(zone):%H:%M} "
            f"{zone.key} (the forecast's yhat)."
        )
    if log is None:
        return "No event log to answer from: pass the runtime's --db."
    if q.topic == "reading" and live is not None:
        point = f"{q.asset}.{q.point}"
        reading = live(point)
        what, unit = _POINT_WORDS.get(q.point, (q.point, ""))
        if reading is None:
            return f"No live reading of {point} (the runtime has none yet)."
        value, at, quality = reading
        age = (now - at).total_seconds()
        stale = " STALE: older than the gate accepts" if age > max_age_s else ""
        return (
            f"{q.asset} {what}: {value:g} {unit} ({point}, {quality}, {age:.0f} s old at "
            f"{at.astimezone(zone):%H:%M:%S} {zone.key}){stale}."
        )
    if q.topic == "reading":
        point = f"{q.asset}.{q.point}"
        last = None
        for e in log.events(kinds=("telemetry.sample",), since=now - timedelta(days=2)):
            if e.payload.get("point") == point:
                last = e
        what, unit = _POINT_WORDS.get(q.point, (q.point, ""))
        if last is None:
            return f"No reading of {point} is recorded."
        ts = last.payload.get("source_ts")
        at = datetime.fromisoformat(str(ts)) if ts else last.ts
        age = (now - at).total_seconds()
        stale = " STALE: older than the gate accepts" if age > max_age_s else ""
        return (
            f"{q.asset} {what}: {float(last.payload['value']):g} {unit} ({point}, "
            f"{last.payload.get('quality', 'good')}, {age:.0f} s old at "
            f"{at.astimezone(zone):%H:%M:%S} {zone.key}){stale}."
        )
    if q.topic == "pending":
        from runtime.approvals.projection import ApprovalProjection

        pending = ApprovalProjection(log).pending()
        if not pending:
            return "Nothing is pending approval."
        lines = [f"{len(pending)} pending approval{'s' if len(pending) != 1 else ''}:"]
        for p in pending:
            asset = p.request.get("asset", "?")
            asked = p.request.get("value")
            lines.append(
                f"  {p.dispatch_id}: {asset} {asked}, {p.requirement.value}, approvers so far "
                f"{', '.join(p.approvers) or 'none'}, expires "
                f"{p.expires_at.astimezone(zone):%H:%M} {zone.key}"
            )
        return "\n".join(lines)
    if q.topic == "since":
        assert q.at is not None
        ends = (
            "dispatch.verified",
            "dispatch.rejected",
            "dispatch.expired",
            "dispatch.failed",
            "dispatch.reverted",
            "approval.requested",
            "dispatch.proposed",
        )
        seen = list(log.events(kinds=ends, since=q.at))
        if not seen:
            return f"Nothing happened since {q.at.astimezone(zone):%H:%M} {zone.key}."
        lines = [f"Since {q.at.astimezone(zone):%H:%M} {zone.key}:"]
        for e in seen:
            c = e.payload.get("command") or {}
            detail = (
                f"{c.get('asset')} {c.get('kind')} {float(c.get('value', 0)):g}"
                if c
                else str(e.payload.get("value", e.payload.get("reason", "")))
            )
            lines.append(f"  {e.ts.astimezone(zone):%H:%M} {e.kind} {e.dispatch_id}: {detail}")
        return "\n".join(lines)
    # why: the dispatch proposed nearest the moment (within 15 min), of the asset if named
    if q.at is None:
        return "At what time? say e.g. 'why did you discharge at 18:05'."
    window = timedelta(minutes=15)
    best = None
    for e in log.events(kinds=("dispatch.proposed",), since=q.at - window, until=q.at + window):
        if q.asset and e.payload["command"]["asset"] != q.asset:
            continue
        if best is None or abs(e.ts - q.at) < abs(best.ts - q.at):
            best = e
    if best is None or best.dispatch_id is None:
        return f"No dispatch was proposed near {q.at.astimezone(zone):%H:%M} {zone.key}."
    chain = list(log.events(dispatch_id=best.dispatch_id))
    return f"Dispatch {best.dispatch_id}: " + narrate(chain, zone)


def peak_of(
    series: list[tuple[str, list[tuple[datetime, float]]]],
    point: str,
    now: datetime,
    hours: float = 12,
) -> tuple[float, datetime] | None:
    """The highest forecast value of ``point`` in the next ``hours`` (``yhat`` of a series)."""
    for uid, points in series:
        if uid == point:
            ahead = [(y, ds) for ds, y in points if now <= ds <= now + timedelta(hours=hours)]
            return max(ahead) if ahead else None
    return None

"""Where alarms come from: conditions evaluated from the live state, the event log and the
disk, turned into ``alarm.*`` events (runtime/log/alarms.py holds the pure model).

Evaluated when the console asks for alarms (every few seconds while a console is open)
and appended under the API's decision lock, so two consoles never raise one alarm twice.

Sources today: stale or bad readings, a supervised service (connector) not ready,
gate rejections in a row, approvals that expired, the hierarchy controller lost, and the
event log's disk filling, and clock offset (a reading stamped ahead of the runtime's clock
by more than ``CLOCK_AHEAD_S``: the device's or the runtime's clock is off). A watchdog has
no signal in the runtime yet, so it raises nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from runtime.log import alarms as model
from runtime.log.alarms import Condition
from runtime.log.eventlog import EventLog
from safety import StateSnapshot

REJECTIONS_IN_A_ROW = 3
EXPIRED_SHOWN = timedelta(hours=1)  # an expired approval is an alarm for this long
DISK_HIGH_PCT = 90.0
DISK_MEDIUM_PCT = 80.0
SERVICE_OK = frozenset({"ready", "starting"})
CLOCK_AHEAD_S = 5.0


def stale_data(snapshot: StateSnapshot | None, now: datetime, max_age_s: float) -> list[Condition]:
    if snapshot is None:
        return []
    out = []
    for point, r in sorted(snapshot.readings.items()):
        age = (now - r.ts).total_seconds()
        if r.quality.value != "good":
            out.append(
                Condition(f"data:{point}", "data", "high", f"{point}: quality {r.quality.value}")
            )
        elif age < -CLOCK_AHEAD_S:
            out.append(
                Condition(
                    f"clock:{point}",
                    "clock",
                    "medium",
                    f"{point}: stamped {-age:.0f} s ahead of the runtime's clock; "
                    "check the device's and the runtime's time sync",
                )
            )
        elif age > max_age_s:
            out.append(
                Condition(
                    f"data:{point}",
                    "data",
                    "high",
                    f"{point}: stale, last reading {age:.0f} s old (limit {max_age_s:g} s)",
                )
            )
    return out


def from_log(log: EventLog, now: datetime) -> list[Condition]:
    out: list[Condition] = []
    # services (connectors, API, jobs): the last health state of each
    last: dict[str, tuple[str, str]] = {}
    for e in log.events(kinds=("health.changed",)):
        last[str(e.payload["service"])] = (
            str(e.payload["state"]),
            str(e.payload.get("reason", "")),
        )
    for service, (state, reason) in sorted(last.items()):
        if state not in SERVICE_OK:
            out.append(
                Condition(
                    f"service:{service}",
                    "connector" if "connector" in service or "opcua" in service else "service",
                    "high" if state == "failed" else "medium",
                    f"{service} is {state}" + (f": {reason}" if reason else ""),
                )
            )
    # gate rejections in a row (the first gate verdict of each decision, newest last)
    outcomes = [
        str(e.payload["outcome"])
        for e in log.events(kinds=("dispatch.gated",), since=now - timedelta(hours=6))
        if not e.payload.get("recheck")
    ]
    tail = outcomes[-REJECTIONS_IN_A_ROW:]
    if len(tail) == REJECTIONS_IN_A_ROW and all(o == "rejected" for o in tail):
        out.append(
            Condition(
                "gate:rejections",
                "gate",
                "medium",
                f"the safety gate rejected the last {REJECTIONS_IN_A_ROW} proposals in a row",
            )
        )
    for e in log.events(kinds=("approval.expired",), since=now - EXPIRED_SHOWN):
        out.append(
            Condition(
                f"approval:{e.dispatch_id}",
                "approvals",
                "medium",
                f"approval request {e.dispatch_id} expired unanswered; nothing was sent",
            )
        )
    lost = back = None
    for e in log.events(kinds=("hierarchy.controller_lost", "hierarchy.controller_back")):
        if e.kind == "hierarchy.controller_lost":
            lost = e
        else:
            back = e
    if lost is not None and (back is None or back.seq < lost.seq):
        out.append(
            Condition(
                "hierarchy:controller",
                "controller",
                "high",
                f"controller lost: {lost.payload['reason']}; local threshold "
                f"{float(lost.payload['threshold_kw']):,.0f} kW in force",
            )
        )
    return out


def storage(path: Path) -> list[Condition]:
    try:
        usage = shutil.disk_usage(path.parent if path.parent.exists() else Path("."))
    except OSError:
        return []
    used_pct = 100.0 * (usage.total - usage.free) / usage.total if usage.total else 0.0
    if used_pct < DISK_MEDIUM_PCT:
        return []
    priority: model.Priority = "high" if used_pct >= DISK_HIGH_PCT else "medium"
    return [
        Condition(
            "storage:events",
            "storage",
            priority,
            f"the disk holding the event log is {used_pct:.0f} % full ({path.parent})",
        )
    ]


def current(log: EventLog) -> dict[str, model.Alarm]:
    return model.project((e.kind, e.ts, e.payload) for e in log.events(kinds=model.KINDS))


def update(log: EventLog, conditions: Iterable[Condition], now: datetime) -> dict[str, model.Alarm]:
    """Append the transitions the conditions call for; the alarms after them."""
    alarms = current(log)
    for event in model.transitions(alarms, conditions):
        log.append_event(event, ts=now)
    return current(log)

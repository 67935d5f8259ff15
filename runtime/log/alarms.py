"""Alarms in the sense of ISA-18.2 / IEC 62682, as a pure model and a projection over the log.

An alarm has a key (``source:subject``), a priority, the time it was raised, and two
independent states: active / cleared (the condition) and unacknowledged / acknowledged
(the operator). An operator may shelve it for a while with a reason. Every change is an
event (``alarm.raised``, ``alarm.cleared``, ``alarm.acknowledged``, ``alarm.shelved``), so the
alarm list is a fold over the event log and survives restarts.

``transitions`` turns the conditions true now into the events that bring the log up to date
(raise what is new, clear what went away); the shell (runtime/api/alarm_sources.py)
evaluates the conditions and appends the events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from runtime.log import events as ev

Priority = Literal["high", "medium", "low"]
PRIORITY_ORDER: dict[str, int] = {"high": 0, "medium": 1, "low": 2}
KINDS = ("alarm.raised", "alarm.cleared", "alarm.acknowledged", "alarm.shelved")


@dataclass(frozen=True, slots=True)
class Condition:
    """An alarm condition true now, as a source sees it."""

    key: str
    source: str
    priority: Priority
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Alarm:
    key: str
    source: str
    priority: str
    message: str
    raised_at: datetime
    active: bool = True
    cleared_at: datetime | None = None
    acked: bool = False
    acked_by: str = ""
    acked_at: datetime | None = None
    ack_reason: str = ""
    shelved_until: datetime | None = None
    shelved_by: str = ""
    shelve_reason: str = ""

    def shelved(self, now: datetime) -> bool:
        return self.shelved_until is not None and now < self.shelved_until

    def state(self) -> str:
        """``active, unacknowledged`` and so on: the two ISA-18.2 axes in words."""
        return (
            f"{'active' if self.active else 'cleared'}, "
            f"{'acknowledged' if self.acked else 'unacknowledged'}"
        )

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            "key": self.key,
            "source": self.source,
            "priority": self.priority,
            "message": self.message,
            "raised_at": self.raised_at.isoformat(),
            "active": self.active,
            "cleared_at": self.cleared_at.isoformat() if self.cleared_at else None,
            "acked": self.acked,
            "acked_by": self.acked_by,
            "acked_at": self.acked_at.isoformat() if self.acked_at else None,
            "ack_reason": self.ack_reason,
            "shelved": self.shelved(now),
            "shelved_until": self.shelved_until.isoformat() if self.shelved_until else None,
            "shelved_by": self.shelved_by,
            "shelve_reason": self.shelve_reason,
            "state": self.state(),
        }


def fold(
    alarms: Mapping[str, Alarm], kind: str, ts: datetime, p: Mapping[str, Any]
) -> dict[str, Alarm]:
    """The alarms after one alarm event. Pure; other kinds leave them unchanged."""
    out = dict(alarms)
    key = str(p.get("key", ""))
    old = out.get(key)
    if kind == "alarm.raised":
        # a new occurrence: active and unacknowledged again (a shelf still holds)
        out[key] = Alarm(
            key=key,
            source=str(p["source"]),
            priority=str(p["priority"]),
            message=str(p["message"]),
            raised_at=ts,
            shelved_until=old.shelved_until if old else None,
            shelved_by=old.shelved_by if old else "",
            shelve_reason=old.shelve_reason if old else "",
        )
    elif old is None:
        return out
    elif kind == "alarm.cleared":
        out[key] = replace(old, active=False, cleared_at=ts)
    elif kind == "alarm.acknowledged":
        out[key] = replace(
            old,
            acked=True,
            acked_by=str(p["user"]),
            acked_at=ts,
            ack_reason=str(p.get("reason", "")),
        )
    elif kind == "alarm.shelved":
        until = p["until"]
        out[key] = replace(
            old,
            shelved_until=until
            if isinstance(until, datetime)
            else datetime.fromisoformat(str(until)),
            shelved_by=str(p["user"]),
            shelve_reason=str(p["reason"]),
        )
    return out


def project(events: Iterable[tuple[str, datetime, Mapping[str, Any]]]) -> dict[str, Alarm]:
    alarms: dict[str, Alarm] = {}
    for kind, ts, payload in events:
        alarms = fold(alarms, kind, ts, payload)
    return alarms


def transitions(
    alarms: Mapping[str, Alarm], conditions: Iterable[Condition]
) -> list[ev.AlarmRaised | ev.AlarmCleared]:
    """Events that make the log agree with the conditions true now. Pure."""
    now_true = {c.key: c for c in conditions}
    out: list[ev.AlarmRaised | ev.AlarmCleared] = []
    for key, c in sorted(now_true.items()):
        old = alarms.get(key)
        if old is None or not old.active:
            out.append(
                ev.AlarmRaised(key=key, source=c.source, priority=c.priority, message=c.message)
            )
    for key, a in sorted(alarms.items()):
        if a.active and key not in now_true:
            out.append(ev.AlarmCleared(key=key, message="condition no longer present"))
    return out


def listing(alarms: Mapping[str, Alarm], now: datetime) -> list[Alarm]:
    """What the alarm list shows, most urgent first: unshelved alarms that are active or
    not yet acknowledged (a cleared, acknowledged alarm leaves the list)."""
    shown = [a for a in alarms.values() if (a.active or not a.acked) and not a.shelved(now)]
    return sorted(
        shown,
        key=lambda a: (
            not a.active,
            a.acked,
            PRIORITY_ORDER.get(a.priority, 9),
            -a.raised_at.timestamp(),
        ),
    )

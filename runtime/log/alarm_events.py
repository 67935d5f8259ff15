"""Typed events of alarms (ISA-18.2 style, runtime/log/alarms.py) and the shift log."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from runtime.log.event_base import EventModel as _Event


class AlarmRaised(_Event):
    """An alarm condition began (runtime/log/alarms.py; ISA-18.2 style)."""

    kind: Literal["alarm.raised"] = "alarm.raised"
    v: Literal[1] = 1
    key: str  # source:subject, one alarm per key
    source: str
    priority: Literal["high", "medium", "low"]
    message: str


class AlarmCleared(_Event):
    kind: Literal["alarm.cleared"] = "alarm.cleared"
    v: Literal[1] = 1
    key: str
    message: str = ""


class AlarmAcknowledged(_Event):
    kind: Literal["alarm.acknowledged"] = "alarm.acknowledged"
    v: Literal[1] = 1
    key: str
    user: str
    reason: str = ""


class AlarmShelved(_Event):
    kind: Literal["alarm.shelved"] = "alarm.shelved"
    v: Literal[1] = 1
    key: str
    user: str
    reason: str
    until: datetime


class OperatorNote(_Event):
    """A free-text entry in the shift log (handover): who wrote what, when."""

    kind: Literal["operator.note"] = "operator.note"
    v: Literal[1] = 1
    author: str
    text: str

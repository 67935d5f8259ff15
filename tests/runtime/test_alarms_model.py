"""The alarm model (ISA-18.2 style): pure transitions and the projection over events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from runtime.log import alarms as model
from runtime.log import events as ev
from runtime.log.alarms import Condition

T0 = datetime(2026, 7, 15, 18, 0, tzinfo=UTC)
STALE = Condition("data:bat1.soc_pct", "data", "high", "bat1.soc_pct: stale")
GATE = Condition("gate:rejections", "gate", "medium", "3 rejections in a row")


def apply(
    alarms: dict[str, model.Alarm], events: list[Any], at: datetime
) -> dict[str, model.Alarm]:
    for e in events:
        kind, payload = ev.dump(e)
        alarms = model.fold(alarms, kind, at, payload)
    return alarms


def test_raise_once_then_clear_when_the_condition_goes() -> None:
    first = model.transitions({}, [STALE])
    assert [e.kind for e in first] == ["alarm.raised"]
    alarms = apply({}, first, T0)
    assert model.transitions(alarms, [STALE]) == []  # still active: nothing new
    gone = model.transitions(alarms, [])
    assert [e.kind for e in gone] == ["alarm.cleared"]
    alarms = apply(alarms, gone, T0 + timedelta(minutes=1))
    a = alarms[STALE.key]
    assert not a.active and not a.acked and a.state() == "cleared, unacknowledged"
    # cleared but unacknowledged stays listed until someone acknowledges it
    assert [x.key for x in model.listing(alarms, T0)] == [STALE.key]
    ack = ev.AlarmAcknowledged(key=STALE.key, user="olga", reason="seen")
    alarms = apply(alarms, [ack], T0 + timedelta(minutes=2))
    assert alarms[STALE.key].acked_by == "olga"
    assert model.listing(alarms, T0) == []


def test_a_new_occurrence_needs_a_new_acknowledgement() -> None:
    alarms = apply({}, model.transitions({}, [STALE]), T0)
    alarms = apply(alarms, [ev.AlarmAcknowledged(key=STALE.key, user="olga")], T0)
    alarms = apply(alarms, model.transitions(alarms, []), T0 + timedelta(minutes=1))
    alarms = apply(alarms, model.transitions(alarms, [STALE]), T0 + timedelta(minutes=2))
    a = alarms[STALE.key]
    assert a.active and not a.acked and a.raised_at == T0 + timedelta(minutes=2)


def test_order_and_shelving() -> None:
    alarms = apply({}, model.transitions({}, [GATE]), T0)
    alarms = apply(alarms, model.transitions(alarms, [GATE, STALE]), T0 + timedelta(minutes=1))
    assert [a.key for a in model.listing(alarms, T0)] == [STALE.key, GATE.key]  # high first
    shelf = ev.AlarmShelved(
        key=STALE.key, user="olga", reason="sensor swap", until=T0 + timedelta(hours=1)
    )
    alarms = apply(alarms, [shelf], T0 + timedelta(minutes=2))
    assert [a.key for a in model.listing(alarms, T0 + timedelta(minutes=3))] == [GATE.key]
    back = model.listing(alarms, T0 + timedelta(hours=1, seconds=1))  # the shelf ends by itself
    assert [a.key for a in back] == [STALE.key, GATE.key]
    assert alarms[STALE.key].as_json(T0)["shelve_reason"] == "sensor swap"

"""Alarms (list, acknowledge, shelve), the operator log and the shift handover summary.

Every change is an event in the log (``alarm.*``, ``operator.note``), under the same lock
as approval decisions. The alarm model is pure (runtime/log/alarms.py); its sources are
evaluated here on each listing (runtime/api/alarm_sources.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from runtime.api import alarm_sources
from runtime.api.auth import Principal
from runtime.api.context import Resources, resources
from runtime.api.guard import principal
from runtime.log import alarms as model
from runtime.log import events as ev

router = APIRouter(
    prefix="/api", tags=["alarms"], responses={400: {"description": "body is not JSON"}}
)
_NO_ALARM: dict[int | str, dict[str, Any]] = {404: {"description": "no such alarm"}}
R = Depends(resources)
P = Depends(principal)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
MAX_SHELVE_MIN = 8 * 60  # a shelf ends by itself within a shift


class AckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: str = Field(default="", max_length=2000)


class ShelveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: Text
    minutes: int = Field(gt=0, le=MAX_SHELVE_MIN)


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    text: Text


def _evaluate(res: Resources, now: datetime) -> dict[str, model.Alarm]:
    config = res.ctx.config
    max_age_s = float(getattr(config.safety, "max_age_s", 120.0)) if config else 120.0
    provider = res.ctx.state_provider
    conditions = [
        *alarm_sources.stale_data(provider() if provider else None, now, max_age_s),
        *alarm_sources.from_log(res.log, now),
        *alarm_sources.storage(res.ctx.events_path),
    ]
    with res.decisions:
        return alarm_sources.update(res.log, conditions, now)


@router.get("/alarms")
def alarms(
    res: Resources = R, all: bool = Query(False, description="include shelved and settled alarms")
) -> list[dict[str, Any]]:
    """Alarms most urgent first: active before cleared, unacknowledged before acknowledged,
    then priority, then newest."""
    now = res.ctx.clock()
    current = _evaluate(res, now)
    shown = (
        sorted(current.values(), key=lambda a: a.raised_at, reverse=True)
        if all
        else model.listing(current, now)
    )
    return [a.as_json(now) for a in shown]


def _known(res: Resources, key: str) -> model.Alarm:
    alarm = alarm_sources.current(res.log).get(key)
    if alarm is None:
        raise HTTPException(404, f"no alarm {key!r}; list them with GET /api/alarms")
    return alarm


@router.post("/alarms/{key}/ack", responses=_NO_ALARM)
def acknowledge(
    key: str, body: AckRequest, who: Principal = P, res: Resources = R
) -> dict[str, Any]:
    now = res.ctx.clock()
    with res.decisions:
        alarm = _known(res, key)
        if not alarm.acked:
            res.log.append_event(
                ev.AlarmAcknowledged(key=key, user=who.username, reason=body.reason), ts=now
            )
        return _known(res, key).as_json(now)


@router.post("/alarms/{key}/shelve", responses=_NO_ALARM)
def shelve(key: str, body: ShelveRequest, who: Principal = P, res: Resources = R) -> dict[str, Any]:
    now = res.ctx.clock()
    with res.decisions:
        _known(res, key)
        res.log.append_event(
            ev.AlarmShelved(
                key=key,
                user=who.username,
                reason=body.reason,
                until=now + timedelta(minutes=body.minutes),
            ),
            ts=now,
        )
        return _known(res, key).as_json(now)


@router.get("/log")
def operator_log(
    res: Resources = R, hours: float = Query(12, gt=0, le=24 * 14)
) -> list[dict[str, Any]]:
    """The shift log, newest first."""
    now = res.ctx.clock()
    return [
        {"ts": e.ts.isoformat(), "author": e.payload["author"], "text": e.payload["text"]}
        for e in reversed(
            list(res.log.events(kinds=("operator.note",), since=now - timedelta(hours=hours)))
        )
    ]


@router.post("/log", status_code=201)
def add_note(body: NoteRequest, who: Principal = P, res: Resources = R) -> dict[str, Any]:
    now = res.ctx.clock()
    res.log.append_event(ev.OperatorNote(author=who.username, text=body.text), ts=now)
    return {"ts": now.isoformat(), "author": who.username, "text": body.text}


@router.get("/handover")
def handover(res: Resources = R, hours: float = Query(8, gt=0, le=24 * 7)) -> dict[str, Any]:
    """What the next shift needs: open alarms, pending approvals, dispatches and notes since."""
    now = res.ctx.clock()
    since = now - timedelta(hours=hours)
    open_alarms = [a.as_json(now) for a in model.listing(_evaluate(res, now), now)]
    pending = [
        {
            "dispatch_id": p.dispatch_id,
            "asset": p.request.get("asset"),
            "value_kw": p.request.get("value"),
            "expires_at": p.expires_at.isoformat(),
            "escalated": p.escalated,
        }
        for p in res.approvals.pending()
    ]
    finals = ("dispatch.verified", "dispatch.failed", "dispatch.dead_lettered", "dispatch.reverted")
    dispatches = [
        {"ts": e.ts.isoformat(), "dispatch_id": e.dispatch_id, "kind": e.kind}
        for e in res.log.events(kinds=finals, since=since)
    ]
    notes = [
        {"ts": e.ts.isoformat(), "author": e.payload["author"], "text": e.payload["text"]}
        for e in res.log.events(kinds=("operator.note",), since=since)
    ]
    return {
        "now": now.isoformat(),
        "since": since.isoformat(),
        "alarms": open_alarms,
        "pending_approvals": pending,
        "dispatches": dispatches,
        "notes": notes,
    }

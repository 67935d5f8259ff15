"""The base of every typed event and the bodies several events share (command, reading,
gate hit, twin state). The event kinds are in ``log.dispatch_events`` (one dispatch, its
approvals) and ``log.site_events`` (lifecycle, canary, hierarchy, agents, auth);
``log.events`` joins them into one discriminated union."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class EventModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommandBody(EventModel):
    key: str
    asset: str
    kind: str
    value: float
    start: datetime
    end: datetime
    origin: str


class ReadingBody(EventModel):
    value: float
    ts: datetime
    quality: str


class HitBody(EventModel):
    constraint: str
    reason: str
    limit: float | None = None
    observed: float | None = None


class TwinStateBody(EventModel):
    soc_pct: dict[str, float]
    p_kw: dict[str, float]
    uncontrolled_net_kw: float

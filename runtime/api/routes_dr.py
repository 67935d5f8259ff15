"""Demand-response events over the API (issue #8): OpenADR-style JSON into the conductor.

The body is the same raw JSON the MQTT topic takes. It is checked here with the one
pure entry point (``runtime.agents.dr.accept_dr_event``) so a bad payload gets 422
and the reason at once; a good one goes to the conductor's DR inbox, which checks it
again on its next cycle, records it and hands it to the DR agent.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from runtime.agents.dr import DrRejected, accept_dr_event
from runtime.api.context import Resources, resources
from runtime.api.schemas import Status

router = APIRouter(prefix="/api/dr", tags=["demand response"])
R = Depends(resources)
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["event_id", "start", "end"],
                    "properties": {
                        "event_id": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]+$"},
                        "signal_level": {"type": "integer", "minimum": 0, "maximum": 3},
                        "target_kw": {"type": "number", "minimum": 0},
                        "start": {"type": "string", "format": "date-time"},
                        "end": {"type": "string", "format": "date-time"},
                        "targets": {"type": "array", "items": {"type": "string"}},
                        "status": {"type": "string", "enum": ["active", "cancelled"]},
                    },
                    "additionalProperties": False,
                    "description": "exactly one of signal_level or target_kw; "
                    "end after start, at most 24 h later, not yet past",
                }
            }
        },
    }
}


@router.post(
    "/events",
    status_code=202,
    response_model=Status,
    openapi_extra=_BODY,
    responses={
        422: {"description": "not a valid DR event; the detail names the field and the fix"},
        503: {"description": "no conductor behind this API (gridaios serve): nothing to run it"},
    },
)
async def submit_event(request: Request, res: Resources = R) -> Status:
    """Queue one DR event for the conductor's DR agent (as ``gridaios/v1/<site>/dr/event``)."""
    raw = await request.body()
    config = res.ctx.config
    assets = frozenset(a.id for a in config.assets) if config is not None else None
    checked = accept_dr_event(raw, res.ctx.clock(), assets=assets)
    if isinstance(checked, DrRejected):
        raise HTTPException(422, checked.reason)
    if res.ctx.dr_submit is None:
        raise HTTPException(
            503,
            "no conductor runs behind this API (gridaios serve reads the log only): send DR "
            "events to the API of `gridaios run` or to the MQTT topic gridaios/v1/<site>/dr/event",
        )
    res.ctx.dr_submit(raw, "api")
    return Status(status="queued")


@router.get(
    "/events/{event_id}/report",
    responses={404: {"description": "no such DR event, or not enough meter data for the M&V"}},
)
async def event_report(event_id: str, res: Resources = R) -> dict[str, Any]:
    """One DR event's M&V: baseline, delivered kW per interval and in total, shortfall."""
    import asyncio

    from runtime.audit.dr_report import ReportError, as_json, report
    from runtime.ingest.historian import Historian

    def compute() -> dict[str, Any]:
        root = res.ctx.history_dir
        history = Historian(root) if root is not None and root.is_dir() else None
        window, result = report(res.log, event_id, config=res.ctx.config, history=history)
        return as_json(window, result)

    try:
        return await asyncio.to_thread(compute)
    except ReportError as err:
        raise HTTPException(404, str(err)) from err

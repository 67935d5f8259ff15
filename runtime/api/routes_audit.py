"""Audit search and chain verification, dead letters, shadow reports."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import FileResponse

from runtime.api.context import Resources, resources
from runtime.api.schemas import DeadLetterOut, EventOut, ShadowReport, VerifyOut
from runtime.core.errors import NotFound
from runtime.log.deadletter import DeadLetter, DeadLetterError, Status

router = APIRouter(prefix="/api", tags=["audit"])
R = Depends(resources)
SQLITE_MAX = 2**63 - 1
REPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.html$")


@router.get("/events", response_model=list[EventOut])
def search(
    kind: str | None = Query(
        None, max_length=100, description="part of a kind (approval, granted), or a prefix with *"
    ),
    dispatch_id: str | None = Query(None, max_length=200),
    q: str | None = Query(None, max_length=200, description="text in the payload, kind or id"),
    after_seq: int | None = Query(None, ge=0, le=SQLITE_MAX, description="page forward from here"),
    limit: int = Query(100, ge=1, le=1000),
    res: Resources = R,
) -> list[EventOut]:
    """Events in seq order: the first ``limit`` after ``after_seq``, else the newest ``limit``."""
    return [
        EventOut(
            seq=e.seq,
            ts=e.ts,
            kind=e.kind,
            dispatch_id=e.dispatch_id,
            payload=dict(e.payload),
            hash=e.hash,
        )
        for e in res.queries.search(
            kind=kind, dispatch_id=dispatch_id, text=q, after_seq=after_seq, limit=limit
        )
    ]


@router.get("/audit/verify", response_model=VerifyOut)
def verify(res: Resources = R) -> VerifyOut:
    """Walk the hash chain: the first record that breaks it, if any."""
    bad = res.log.verify()
    return VerifyOut(ok=bad is None, events=res.queries.count(), first_bad_seq=bad)


def _dead_letter(d: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        id=d.id,
        kind=d.kind,
        source=d.source,
        reason=d.reason,
        ts=d.ts,
        status=d.status.value,
        retries=d.retries,
        payload_preview=d.payload[:500].decode("utf-8", errors="replace"),
    )


@router.get("/deadletters", response_model=list[DeadLetterOut])
def deadletters(
    status: Annotated[Status | None, Query()] = None,
    limit: int = Query(100, ge=1, le=1000),
    res: Resources = R,
) -> list[DeadLetterOut]:
    store = res.dlq()
    if store is None:
        return []
    return [_dead_letter(d) for d in store.list(status=status, limit=limit)]


@router.post(
    "/deadletters/{dletter_id}/retry",
    response_model=DeadLetterOut,
    responses={404: {"description": "no such entry"}, 409: {"description": "cannot retry"}},
)
def retry(dletter_id: int = Path(ge=1, le=SQLITE_MAX), res: Resources = R) -> DeadLetterOut:
    """Hand a dead letter back to its owner (the conductor takes it within a second)."""
    store = res.dlq()
    if store is None:
        raise HTTPException(404, "no dead-letter store for this runtime")
    try:
        return _dead_letter(store.retry(dletter_id))
    except NotFound as err:
        raise HTTPException(404, str(err)) from err
    except DeadLetterError as err:
        raise HTTPException(409, str(err)) from err


@router.get("/shadow/reports", response_model=list[ShadowReport])
def shadow_reports(res: Resources = R) -> list[ShadowReport]:
    folder = res.ctx.shadow_dir
    if folder is None or not folder.is_dir():
        return []
    reports = [p for p in folder.glob("*.html") if REPORT_NAME.match(p.name)]
    return [
        ShadowReport(
            name=p.name,
            created=datetime.fromtimestamp(p.stat().st_mtime, UTC),
            url=f"/api/shadow/reports/{p.name}",
        )
        for p in sorted(reports, key=lambda p: p.stat().st_mtime, reverse=True)
    ]


@router.get(
    "/shadow/reports/{name}",
    response_class=FileResponse,
    responses={200: {"content": {"text/html": {}}}, 404: {"description": "no such report"}},
)
def shadow_report(name: str, res: Resources = R) -> FileResponse:
    folder = res.ctx.shadow_dir
    if folder is None or not REPORT_NAME.match(name) or not (folder / name).is_file():
        raise HTTPException(404, f"no shadow report {name!r}; see GET /api/shadow/reports")
    return FileResponse(folder / name, media_type="text/html")

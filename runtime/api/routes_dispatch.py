"""Proposals and dispatches: newest first, each folded from its own events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from runtime.api import views
from runtime.api.context import Resources, resources
from runtime.api.schemas import DispatchDetail, DispatchOut, ProposalOut
from runtime.audit import explain
from runtime.core.errors import NotFound
from runtime.log.dispatch import State
from runtime.log.eventlog import Event

router = APIRouter(prefix="/api", tags=["dispatches"])
R = Depends(resources)
SCAN_MAX = 5000  # dispatches looked at for one filtered page


@router.get("/proposals", response_model=list[ProposalOut])
def proposals(limit: int = Query(50, ge=1, le=500), res: Resources = R) -> list[ProposalOut]:
    """The newest proposals with the gate's verdict and where each dispatch stands now."""
    out = []
    for _, did in res.queries.newest_with_seq("dispatch.proposed", limit):
        row = views.proposal(list(res.log.events(dispatch_id=did)))
        if row is not None:
            out.append(row)
    return out


@router.get("/dispatches", response_model=list[DispatchOut])
def dispatches(
    limit: int = Query(50, ge=1, le=500),
    state: Annotated[
        str | None,
        Query(
            description="only dispatches in this state (empty: all)",
            pattern="^(" + "|".join(s.value for s in State) + ")?$",
        ),
    ] = None,
    res: Resources = R,
) -> list[DispatchOut]:
    out: list[DispatchOut] = []
    before: int | None = None
    scanned = 0
    while len(out) < limit and scanned < SCAN_MAX:
        page = res.queries.newest_with_seq("dispatch.proposed", 200, before)
        if not page:
            break
        for seq, did in page:
            before = seq
            scanned += 1
            row = views.dispatch_row(list(res.log.events(dispatch_id=did)))
            if row is not None and (not state or row.state == state):
                out.append(row)
                if len(out) >= limit:
                    break
    return out


@router.get("/dispatches/{dispatch_id}", response_model=DispatchDetail, responses={404: {}})
def dispatch(dispatch_id: str, res: Resources = R) -> DispatchDetail:
    """The decision record: what ``gridaios explain`` prints, and each event behind it."""
    try:
        text = explain.explain(res.log, dispatch_id)
    except NotFound as err:
        raise HTTPException(404, str(err)) from err
    chain = list(res.log.events(dispatch_id=dispatch_id))
    return DispatchDetail(
        dispatch_id=dispatch_id,
        state=views.state_of(chain),
        text=text,
        narrative=_narrative(chain, res),
        events=[views.explained(e, explain.unit_of(chain)) for e in chain],
    )


def _narrative(chain: list[Event], res: Resources) -> str:
    from zoneinfo import ZoneInfo

    from runtime.words.narrate import narrate

    config = res.ctx.config
    return narrate(chain, ZoneInfo(config.safety.timezone if config else "UTC"))

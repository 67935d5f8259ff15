"""Approvals: what waits for sign-off, the full request, the plot, approve and reject.

The rules (two-person, proposer, plan hash, expiry) live in ``runtime.approvals.book``;
this module only calls them as the logged-in user and maps their refusals to 409.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse

from runtime.api import views
from runtime.api.auth import Principal
from runtime.api.context import Resources, resources
from runtime.api.guard import principal
from runtime.api.schemas import (
    ApprovalDetail,
    ApprovalOut,
    ApproveRequest,
    DecisionOut,
    RejectRequest,
)
from runtime.api.stakes import stakes
from runtime.approvals import book as approvals
from runtime.core.errors import GridaiosError, NotFound
from runtime.log.eventlog import Event

router = APIRouter(
    prefix="/api/approvals",
    tags=["approvals"],
    responses={400: {"description": "body is not JSON"}},
)
R = Depends(resources)
P = Depends(principal)
_NOT_PENDING: dict[int | str, dict[str, Any]] = {404: {"description": "no such request pending"}}
_REFUSED: dict[int | str, dict[str, Any]] = {
    409: {"description": "refused: plan changed, decided, expired, or same person"}
}


@router.get("", response_model=list[ApprovalOut])
def list_pending(res: Resources = R) -> list[ApprovalOut]:
    """Dispatches awaiting sign-off, oldest first."""
    return [views.approval_item(p) for p in res.approvals.pending()]


@router.get("/{dispatch_id}", response_model=ApprovalDetail, responses=_NOT_PENDING)
def detail(dispatch_id: str, res: Resources = R) -> ApprovalDetail:
    """The whole request: plan, verdicts, simulation and grid report, plot, explanation,
    rollback point and what happens if nobody acts (``runtime.approvals.book.detail``)."""
    d = approvals.detail(res.log, dispatch_id)  # NotFound -> 404
    chain = list(res.log.events(dispatch_id=dispatch_id))
    plot_url = f"/api/approvals/{dispatch_id}/plot.png" if _plot(chain) else None
    out = views.approval_detail(d, plot_url=plot_url)
    proposed = next((e for e in chain if e.kind == "dispatch.proposed"), None)
    snapshot = proposed.payload.get("snapshot") if proposed is not None else None
    return ApprovalDetail.model_validate(
        {
            **out.model_dump(),
            "escalate_at": d.get("escalate_at"),
            "successor": d.get("successor"),
            "history": d.get("history", []),
            "stakes": stakes(d, res.ctx.config, snapshot),
        }
    )


def _plot(chain: Sequence[Event]) -> Path | None:
    for e in chain:
        if e.kind not in ("approval.requested", "dispatch.grid_validated"):
            continue
        plot = e.payload.get("plot")
        if plot and Path(plot).suffix == ".png" and Path(plot).is_file():
            return Path(plot)
    return None


@router.get(
    "/{dispatch_id}/plot.png",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}}, 404: {"description": "no plot"}},
)
def plot(dispatch_id: str, res: Resources = R) -> FileResponse:
    path = _plot(list(res.log.events(dispatch_id=dispatch_id)))
    if path is None:
        raise HTTPException(404, f"no plot recorded for dispatch {dispatch_id}")
    return FileResponse(path, media_type="image/png")


def _decision(
    res: Resources, dispatch_id: str, status: Literal["pending", "approved", "rejected"]
) -> DecisionOut:
    requirement = next(res.log.events(dispatch_id=dispatch_id, kinds=(approvals.REQUESTED,)))
    needed = approvals.Requirement(str(requirement.payload["requirement"])).approvers
    grants = [
        str(e.payload["user"])
        for e in res.log.events(dispatch_id=dispatch_id, kinds=(approvals.GRANTED,))
    ]
    if status == "approved" and len(set(grants)) < needed:
        status = "pending"  # recorded; another operator must approve too
    return DecisionOut(
        dispatch_id=dispatch_id,
        status=status,
        approvers=grants,
        approvers_needed=needed,
    )


def _not_pending(res: Resources, dispatch_id: str, err: NotFound) -> HTTPException:
    """404 when there never was a request; 409 when it was decided, used or expired."""
    if res.queries.first(dispatch_id, approvals.REQUESTED) is None:
        return HTTPException(404, str(err))
    state = views.state_of(list(res.log.events(dispatch_id=dispatch_id)))
    return HTTPException(
        409,
        f"dispatch {dispatch_id} is no longer awaiting approval (now {state}); nothing recorded",
    )


@router.post(
    "/{dispatch_id}/approve", response_model=DecisionOut, responses={**_NOT_PENDING, **_REFUSED}
)
def approve(
    dispatch_id: str, body: ApproveRequest, who: Principal = P, res: Resources = R
) -> DecisionOut:
    """Approve as the logged-in operator, bound to the plan_hash shown with the request."""
    now = res.ctx.clock()
    with res.decisions:
        try:
            approvals.approve(
                res.log,
                dispatch_id,
                who.username,
                body.reason,
                now,
                plan_hash=body.plan_hash,
                auth=f"api:{who.kind}",
            )
        except NotFound as err:
            raise _not_pending(res, dispatch_id, err) from err
        except GridaiosError as err:
            raise HTTPException(409, str(err)) from err
    return _decision(res, dispatch_id, "approved")


@router.post(
    "/{dispatch_id}/reject", response_model=DecisionOut, responses={**_NOT_PENDING, **_REFUSED}
)
def reject(
    dispatch_id: str, body: RejectRequest, who: Principal = P, res: Resources = R
) -> DecisionOut:
    """Reject as the logged-in operator; the reason is required."""
    with res.decisions:
        try:
            approvals.reject(res.log, dispatch_id, who.username, body.reason, res.ctx.clock())
        except NotFound as err:
            raise _not_pending(res, dispatch_id, err) from err
        except GridaiosError as err:
            raise HTTPException(409, str(err)) from err
    return _decision(res, dispatch_id, "rejected")

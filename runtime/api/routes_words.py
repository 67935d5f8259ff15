"""``POST /api/ask``: the operator's words, answered by the running runtime.

The model stays loaded in this process (``gridaios ask --api`` and the console
use it, so no request pays the model's load). Commands are understood, read back
and previewed through the gate against the conductor's live state when the API
runs with one; nothing is proposed or sent from here. Questions are answered
from the event log, live state and the forecast file.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from runtime.api.auth import Principal
from runtime.api.context import Resources, resources
from runtime.api.guard import principal

router = APIRouter(prefix="/api", tags=["words"])
R = Depends(resources)
P = Depends(principal)
_LOCK = threading.Lock()


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=500)
    llm: bool = True


class AskOut(BaseModel):
    kind: str = Field(description="command, question, refused or unknown")
    tier: str
    reply: str = Field(description="the read-back, the answer or why nothing is proposed")
    readback: str | None = None
    confirm: str | None = Field(default=None, description="the read-back's code (ask --confirm)")
    command: dict[str, Any] | None = None
    verdict: dict[str, Any] | None = None
    approval: str | None = None


def _slots(request: Request, vocab: Any) -> Any:
    """The slot filler, loaded once per app and kept (None when the model is not installed)."""
    from runtime.words.slots import SlotFiller, SlotsUnavailable

    with _LOCK:
        state = request.app.state
        if not hasattr(state, "words_slots"):
            try:
                state.words_slots = SlotFiller(vocab)
            except SlotsUnavailable:
                state.words_slots = None
        return state.words_slots


@router.post("/ask", response_model=AskOut, responses={409: {}})
def ask(body: AskIn, request: Request, res: Resources = R) -> AskOut:
    """Understand ``text``: a read-back and the gate's preview, or the answer to a question."""
    from runtime.config import site
    from runtime.decide.approval_rule import approval_requirement
    from runtime.log import records
    from runtime.words.answer import answer, peak_of
    from runtime.words.command import to_command
    from runtime.words.confirm import assumed_state, confirm_code
    from runtime.words.readback import read_back
    from runtime.words.understand import understand
    from runtime.words.vocab import vocabulary
    from safety import Accepted, Clamped, evaluate

    config = res.ctx.config
    if config is None:
        raise HTTPException(409, "the API runs without a site config: start it with --config")
    vocab = vocabulary(config)
    zone = ZoneInfo(config.safety.timezone)
    now = res.ctx.clock()
    default_s = config.agents.operator_intent.command_duration_s
    u = understand(body.text, vocab, now, zone, default_s=default_s)
    if u.kind == "unknown" and body.llm:
        filler = _slots(request, vocab)
        if filler is not None:
            u = filler.fill(u, now, zone, default_s)
    live_state = res.ctx.state_provider() if res.ctx.state_provider else None
    if u.kind == "question" and u.question is not None:

        def live(point: str) -> tuple[float, Any, str] | None:
            r = live_state.readings.get(point) if live_state is not None else None
            return None if r is None else (r.value, r.ts, str(r.quality))

        def peak() -> Any:
            if res.ctx.forecast_provider is None:
                return None
            series = [
                (s.unique_id, [(p.ds, p.yhat) for p in s.points])
                for s in res.ctx.forecast_provider()
            ]
            return peak_of(series, site.point_id(config.feeder.meter, "p_kw"), now)

        text = answer(
            u.question,
            res.log,
            vocab,
            now,
            zone,
            max_age_s=config.safety.max_age_s,
            forecast_peak=peak,
            live=live if live_state is not None else None,
        )
        return AskOut(kind="question", tier=u.tier, reply=text)
    if not u.is_command:
        return AskOut(kind=u.kind, tier=u.tier, reply=u.message)
    command = to_command(u, key=f"ask-{uuid.uuid4().hex[:12]}", now=now)
    assert command is not None
    snapshot = live_state if live_state is not None else assumed_state(config, now)
    verdict = evaluate([command], snapshot, site.envelope(config), now)[0]
    vj = records.gated(verdict).model_dump(mode="json", exclude={"kind", "v", "recheck"})
    # the conductor's rule (a curtailment on the kW it sheds), on the gated value
    approved = verdict.approved if isinstance(verdict, Accepted | Clamped) else None
    need = (
        approval_requirement(config, approved.command, approved.value, snapshot)[0].value
        if approved is not None
        else None
    )
    said = read_back(u, vocab, zone, now)
    return AskOut(
        kind="command",
        tier=u.tier,
        reply=said,
        readback=said,
        confirm=confirm_code(u),
        command=records.command_body(command).model_dump(mode="json"),
        verdict=vj,
        approval=need,
    )


class ProposeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=500)
    confirm: str = Field(
        min_length=1, max_length=16, description="the read-back's code from POST /api/ask"
    )


class ProposeOut(BaseModel):
    request_id: str
    readback: str


@router.post("/ask/propose", response_model=ProposeOut, responses={409: {}})
def propose(
    body: ProposeIn, request: Request, who: Principal = P, res: Resources = R
) -> ProposeOut:
    """Queue a confirmed request for the conductor's operator-intent agent, as the caller.

    The text is understood again (rules only: the same words give the same read-back)
    and queued only when its read-back code is the one the operator confirmed.
    """
    from runtime.agents.intent import request as queue_request
    from runtime.words.confirm import confirm_code, intent_of
    from runtime.words.readback import read_back
    from runtime.words.understand import understand
    from runtime.words.vocab import vocabulary

    config = res.ctx.config
    if config is None:
        raise HTTPException(409, "the API runs without a site config: start it with --config")
    from forecasting.intent import validate_intent

    vocab = vocabulary(config)
    zone = ZoneInfo(config.safety.timezone)
    now = res.ctx.clock()
    u = understand(
        body.text, vocab, now, zone, default_s=config.agents.operator_intent.command_duration_s
    )
    if not u.is_command or u.end is None:
        raise HTTPException(409, f"nothing to propose: {u.message or 'not a command'}")
    said = read_back(u, vocab, zone, now)
    if body.confirm != confirm_code(u):
        raise HTTPException(
            409, f"the read-back is now {said!r} (code {confirm_code(u)}); confirm that one"
        )
    if u.end - now > timedelta(hours=24):
        raise HTTPException(409, "an end more than 24 h ahead cannot be queued")
    request_id = queue_request(
        res.log,
        user=who.username,
        text=body.text,
        intent=validate_intent(intent_of(u, zone)),
        tier=u.tier,
        now=now,
    )
    return ProposeOut(request_id=request_id, readback=said)

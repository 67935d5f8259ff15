"""Typed events of demand-response programs (OpenADR opt-in decisions)."""

from __future__ import annotations

from typing import Literal

from runtime.log.event_base import EventModel as _Event


class DrOptInDecided(_Event):
    """The site's answer to a program's event (one per event and modification)."""

    kind: Literal["dr.optin.decided"] = "dr.optin.decided"
    v: Literal[1] = 1
    event_id: str
    modification: int
    program: str
    opt: Literal["optIn", "optOut"]
    by: str  # "auto" (the program's rule or default), or the operators who decided
    reason: str

"""What reaches the agents from outside the feeder: DR events and operator requests.

The agents' perception (``agents.base.Perception``) carries them; the DR agent and the
operator-intent agent act on them. Plain values here, so every agent module can import
them without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from forecasting.intent import Intent

MAX_DURATION = timedelta(hours=24)


class DrEvent(BaseModel):
    """One DR event: a feeder-import target in kW or a signal level, for a time window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    signal_level: int | None = Field(default=None, ge=0, le=3)
    target_kw: float | None = Field(default=None, ge=0)
    start: AwareDatetime
    end: AwareDatetime
    targets: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    # "cancelled": a revision (same event_id) that withdraws the event; never active again
    status: Literal["active", "cancelled"] = "active"

    @model_validator(mode="after")
    def _shape(self) -> DrEvent:
        if (self.signal_level is None) == (self.target_kw is None):
            raise ValueError("give exactly one of signal_level (0-3) or target_kw")
        if self.end <= self.start:
            raise ValueError(f"end {self.end.isoformat()} must be after start")
        if self.end - self.start > MAX_DURATION:
            raise ValueError("an event lasts at most 24 h; split longer programmes")
        return self

    def applies_to(self, asset: str) -> bool:
        return "*" in self.targets or asset in self.targets

    def active(self, now: datetime) -> bool:
        return self.status == "active" and self.start <= now < self.end


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorRequest:
    request_id: str  # unique per request: it becomes part of the idempotency key
    user: str
    text: str
    intent: Intent
    tier: str  # which router tier understood it (rules, llm, fallback)
    received_at: datetime

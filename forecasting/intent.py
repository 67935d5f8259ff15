"""Operator requests as typed intents: the pydantic model, its JSON schema, a rule parser.

An intent is language turned into structure, nothing more: the runtime turns
it into a command that goes through the same gate and approvals as every
other command. ``parse_rules`` handles the common phrasings deterministically;
the local LLM is asked only when it returns ``None``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Action = Literal["hold", "charge", "discharge", "curtail", "stop", "unknown"]
ACTIONS: tuple[str, ...] = ("hold", "charge", "discharge", "curtail", "stop", "unknown")


class Intent(BaseModel):
    """One operator request. ``value`` is kW (hold/charge/discharge) or % (curtail)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action
    asset: str = Field(max_length=64)
    value: float = Field(ge=-100000, le=100000)
    until: str = Field(description="HH:MM (24 h, site local time) or empty", max_length=5)

    @field_validator("until")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if v and not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", v):
            raise ValueError(f"until {v!r} must be HH:MM (00:00-23:59) or empty")
        return v

    @property
    def unit(self) -> str:
        return "%" if self.action == "curtail" else "kW"


#: A deliberately flat schema: llama.cpp turns enum, string and number into a grammar.
INTENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": list(ACTIONS)},
        "asset": {"type": "string"},
        "value": {"type": "number"},
        "until": {"type": "string"},
    },
    "required": ["action", "asset", "value", "until"],
    "additionalProperties": False,
}


class IntentError(ValueError):
    """The model's output is not a valid intent; the message says which field failed."""


def validate_intent(data: object) -> Intent:
    try:
        return Intent.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise IntentError(f"intent.{where}: {first['msg']} (got {data!r})") from err


def ungrounded(intent: Intent, request: str) -> list[str]:
    """Fields of a model-made intent that the request text does not support.

    The value (unless stop/unknown), the asset's number and the ``until`` time must
    each appear in the request as digits; a small model otherwise invents them.
    """
    numbers = {float(n) for n in re.findall(r"\d+(?:\.\d+)?", request)}
    problems: list[str] = []
    if intent.action not in ("stop", "unknown") and abs(intent.value) not in numbers:
        problems.append(f"value {intent.value:g} is not in the request")
    words = {
        "bat": ("bat", "batter", "storage"),
        "pv": ("pv", "solar", "photovolt"),
        "load": ("load", "warehouse", "demand"),
    }
    kind = re.match(r"[a-z]+", intent.asset.lower())
    synonyms = words.get(kind.group(0), ()) if kind else ()
    if intent.action != "unknown" and not any(w in request.lower() for w in synonyms):
        problems.append(f"asset {intent.asset!r} is not the kind the request names")
    digits = re.findall(r"\d+", intent.asset)
    if intent.action != "unknown" and digits and float(digits[-1]) not in numbers:
        problems.append(f"asset {intent.asset!r} is not named in the request")
    if intent.until:
        hh, mm = (int(x) for x in intent.until.split(":"))
        hour_missing = float(hh) not in numbers and float(hh % 12) not in numbers
        if hour_missing or (mm and float(mm) not in numbers):
            problems.append(f"until {intent.until} is not in the request")
    return problems


_NUM = r"(?P<value>-?\d+(?:\.\d+)?)"
_ASSET = r"(?P<kind>battery|bat|pv|solar|load)\s*-?\s*(?P<num>\d+)"
_UNTIL = r"(?:\s+(?:until|till|to)\s+(?P<until>\d{1,2}:\d{2}))?"
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("hold", re.compile(rf"^hold\s+{_ASSET}\s+at\s+{_NUM}\s*kw{_UNTIL}\s*$", re.I)),
    ("charge", re.compile(rf"^charge\s+{_ASSET}\s+(?:at\s+)?{_NUM}\s*kw{_UNTIL}\s*$", re.I)),
    ("discharge", re.compile(rf"^discharge\s+{_ASSET}\s+(?:at\s+)?{_NUM}\s*kw{_UNTIL}\s*$", re.I)),
    ("curtail", re.compile(rf"^curtail\s+{_ASSET}\s+(?:by\s+)?{_NUM}\s*%{_UNTIL}\s*$", re.I)),
    ("stop", re.compile(rf"^stop\s+{_ASSET}\s*$", re.I)),
)
_PREFIX = {"battery": "bat", "bat": "bat", "pv": "pv", "solar": "pv", "load": "load"}


def parse_rules(text: str) -> Intent | None:
    """The deterministic tier: exact common phrasings only; ``None`` when unsure."""
    cleaned = " ".join(text.strip().rstrip(".!").split())
    for action, pattern in _RULES:
        m = pattern.match(cleaned)
        if m is None:
            continue
        asset = f"{_PREFIX[m['kind'].lower()]}{int(m['num'])}"
        value = 0.0 if action == "stop" else float(m["value"])
        if action == "charge":
            value = -abs(value)  # sign convention: charge is negative power
        until = m.groupdict().get("until") or ""
        if until and len(until) == 4:
            until = "0" + until
        return validate_intent({"action": action, "asset": asset, "value": value, "until": until})
    return None

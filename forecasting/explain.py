"""Dispatch explanations: a decision record, a template, and a number check for model drafts.

The record is the truth. A model's draft is kept only if every number in it
(times like 19:00 included) appears in the record; otherwise the template's
text is used and the reason is returned with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

Scalar = str | float | int | bool | None

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*(?:\.\d+)?")
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b")


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    text: str
    source: str  # "model" or "template"
    reason: str  # why the template was used, or "numbers checked"
    unknown_numbers: tuple[str, ...] = ()


def record_text(record: Mapping[str, Scalar]) -> str:
    """The record as the prompt sees it: one ``key: value`` per line."""
    return "\n".join(f"{k}: {_fmt(v)}" for k, v in record.items())


def template(record: Mapping[str, Scalar]) -> str:
    """Deterministic wording used when the model is unavailable or invents a number."""
    parts = [
        f"{record.get('outcome', 'decision')}: {record.get('asset', 'asset')} "
        f"{_fmt(record.get('value_kw'))} kW"
    ]
    if record.get("start") and record.get("end"):
        parts.append(f"from {record['start']} to {record['end']}")
    if record.get("reason"):
        parts.append(f"because {record['reason']}")
    if record.get("constraint"):
        parts.append(f"(constraint {record['constraint']})")
    return " ".join(parts) + "."


def allowed_numbers(record: Mapping[str, Scalar]) -> set[float]:
    nums: set[float] = set()
    for value in record.values():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            nums.update({float(value), abs(float(value)), round(float(value), 1)})
            nums.add(float(round(value)))
            continue
        nums.update(_numbers_in(value))
    return nums


def _numbers_in(text: str) -> set[float]:
    found: set[float] = set()
    for hh, mm in _TIME.findall(text):
        found.update({float(hh), float(mm)})
    for tok in _NUMBER.findall(_TIME.sub(" ", text)):
        try:
            value = float(tok.replace(",", ""))
        except ValueError:
            continue
        found.update({value, abs(value)})
    return found


def unknown_numbers(draft: str, record: Mapping[str, Scalar]) -> tuple[str, ...]:
    """Numbers in ``draft`` that the record does not contain (with rounding slack)."""
    allowed = allowed_numbers(record)
    bad: list[str] = []
    tokens = [f"{h}:{m}" for h, m in _TIME.findall(draft)]
    tokens += _NUMBER.findall(_TIME.sub(" ", draft))
    for tok in tokens:
        values = _numbers_in(tok)
        if not values:
            continue
        if not all(any(abs(v - a) <= 0.05 * max(1.0, abs(a)) for a in allowed) for v in values):
            bad.append(tok)
    return tuple(bad)


MAX_SENTENCES = 2


def _repeats(text: str, n: int = 5) -> bool:
    words = re.findall(r"\w+", text.lower())
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(grams) != len(set(grams))


def check_draft(draft: str, record: Mapping[str, Scalar]) -> Explanation:
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(draft.split()))
    text = " ".join(sentences[:MAX_SENTENCES]).strip()
    if not text:
        return Explanation(text=template(record), source="template", reason="model draft was empty")
    if _repeats(text):
        return Explanation(
            text=template(record), source="template", reason="model draft repeats itself"
        )
    bad = unknown_numbers(text, record)
    if bad:
        return Explanation(
            text=template(record),
            source="template",
            reason=f"model draft contained number(s) not in the record: {', '.join(bad)}",
            unknown_numbers=bad,
        )
    return Explanation(text=text, source="model", reason="numbers checked against the record")


def _fmt(value: Scalar) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)

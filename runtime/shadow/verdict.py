"""Verdicts on a shadow run's KPIs: better / worse / equal for the candidate, with the size.

Pure functions over the ``ShadowResult.as_json()`` sides, shared by the CLI table and
the HTML report so both say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Direction = Literal["lower", "higher", "neutral"]

# KPI key -> (label with unit, which way is better). Order is the table's order.
KPI_META: tuple[tuple[str, str, Direction], ...] = (
    ("peak_kw", "feeder peak (kW)", "lower"),
    ("energy_shifted_kwh", "energy shifted by storage (kWh)", "neutral"),
    ("violations", "violations (total)", "lower"),
    ("gate_rejections", "gate rejections", "lower"),
    ("validation_blocks", "blocked by simulator / power flow", "lower"),
    ("field_violations", "field limit episodes", "lower"),
    ("human_interventions", "human interventions (approvals needed)", "lower"),
    ("cost", "energy cost", "lower"),
    ("dispatches", "dispatches applied", "neutral"),
    ("proposals", "proposals", "neutral"),
    ("lost_commands", "commands lost (link down / device offline)", "lower"),
)

# Differences smaller than this count as equal (floating-point noise, rounding).
EQUAL_ABS = 0.05


@dataclass(frozen=True, slots=True)
class Verdict:
    key: str
    label: str
    production: float
    candidate: float
    difference: float  # candidate - production
    verdict: str  # "better", "worse", "equal", or "different" (no better direction)

    def sentence(self) -> str:
        size = f"{abs(self.difference):,.1f}".rstrip("0").rstrip(".")
        if self.verdict == "equal":
            return f"{self.label}: equal"
        if self.verdict == "different":
            word = "more" if self.difference > 0 else "less"
            return f"{self.label}: {size} {word}"
        return f"{self.label}: {self.verdict} by {size}"


def verdicts(production: Mapping[str, object], candidate: Mapping[str, object]) -> list[Verdict]:
    out: list[Verdict] = []
    for key, label, direction in KPI_META:
        a, b = production.get(key), candidate.get(key)
        if not isinstance(a, int | float) or not isinstance(b, int | float):
            continue
        if key == "cost" and isinstance(production.get("currency"), str):
            label = f"{label} ({production['currency']})"
        delta = float(b) - float(a)
        if abs(delta) < EQUAL_ABS:
            word = "equal"
        elif direction == "neutral":
            word = "different"
        elif (delta < 0) == (direction == "lower"):
            word = "better"
        else:
            word = "worse"
        out.append(Verdict(key, label, float(a), float(b), delta, word))
    return out


def overall(items: list[Verdict]) -> str:
    """One line: ``candidate better on 3 KPIs, worse on 1 (cost), equal on 5``."""
    better = [v.key for v in items if v.verdict == "better"]
    worse = [v.key for v in items if v.verdict == "worse"]
    equal = [v for v in items if v.verdict == "equal"]
    parts = [f"better on {len(better)}" + (f" ({', '.join(better)})" if better else "")]
    parts.append(f"worse on {len(worse)}" + (f" ({', '.join(worse)})" if worse else ""))
    parts.append(f"equal on {len(equal)}")
    return "candidate " + ", ".join(parts)


def fmt(value: float) -> str:
    """Rounded for people: integers without decimals, others to one decimal."""
    if float(value).is_integer():
        return f"{int(value):,d}"
    return f"{value:,.1f}"


@dataclass(frozen=True, slots=True)
class Spread:
    """One KPI over several runs (seeds or scenarios): each side's mean and range, and how
    often the candidate was better / worse."""

    key: str
    label: str
    production: tuple[float, float, float]  # mean, min, max
    candidate: tuple[float, float, float]
    difference: tuple[float, float, float]
    better: int
    worse: int
    runs: int

    def verdict(self) -> str:
        if self.better == 0 and self.worse == 0:
            return "equal" if abs(self.difference[0]) < EQUAL_ABS else "different"
        if self.worse == 0:
            return f"better in {self.better} of {self.runs}"
        if self.better == 0:
            return f"worse in {self.worse} of {self.runs}"
        return f"mixed: better in {self.better}, worse in {self.worse} of {self.runs}"


def _stats(values: list[float]) -> tuple[float, float, float]:
    return (sum(values) / len(values), min(values), max(values))


def spread(runs: list[tuple[Mapping[str, object], Mapping[str, object]]]) -> list[Spread]:
    """KPI spread over runs of (production, candidate) summaries. Pure."""
    per_run = [verdicts(p, c) for p, c in runs]
    if not per_run:
        return []
    out: list[Spread] = []
    for i, first in enumerate(per_run[0]):
        items = [run[i] for run in per_run]
        out.append(
            Spread(
                key=first.key,
                label=first.label,
                production=_stats([v.production for v in items]),
                candidate=_stats([v.candidate for v in items]),
                difference=_stats([v.difference for v in items]),
                better=sum(1 for v in items if v.verdict == "better"),
                worse=sum(1 for v in items if v.verdict == "worse"),
                runs=len(items),
            )
        )
    return out


def fmt_stats(stats: tuple[float, float, float]) -> str:
    mean, lo, hi = stats
    return fmt(mean) if fmt(lo) == fmt(hi) else f"{fmt(mean)} ({fmt(lo)}..{fmt(hi)})"

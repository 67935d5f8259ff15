"""Small helpers shared by benchmarks."""

from __future__ import annotations

import os
from typing import Any, TypeVar

T = TypeVar("T")

#: ``python -m benchmarks --quick`` sets this before importing any module: small sizes,
#: the same code paths, so the suite can run every benchmark and none can rot.
QUICK_ENV = "GRIDAIOS_BENCH_QUICK"


def quick() -> bool:
    return os.environ.get(QUICK_ENV) == "1"


def size(full: T, small: T) -> T:
    """``full`` normally, ``small`` under ``--quick`` (read at import: set the env var first)."""
    return small if quick() else full


def row(
    name: str, value: float, unit: str, baseline: float, *, higher_is_better: bool, **extra: Any
) -> dict[str, Any]:
    """One result row; ``ratio`` > 1 always means "better than the baseline"."""
    if higher_is_better:
        ratio = value / baseline if baseline else float("inf")
    else:
        ratio = baseline / value if value else float("inf")
    return {
        "name": name,
        "value": round(value, 6),
        "unit": unit,
        "baseline": round(baseline, 6),
        "ratio": round(ratio, 4),
        **extra,
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))
    return ordered[index]

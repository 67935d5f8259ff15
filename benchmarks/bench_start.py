"""Start-up: ``gridaios --help`` and ``import runtime.decide.step`` against ``python -c pass``,
each a fresh interpreter, measured in the same run (best of five)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.util import row

REPO = Path(__file__).resolve().parents[1]


def _best_s(args: list[str], n: int = 5) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "firmware-bridge")])}
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, *args], capture_output=True, check=True, env=env)
        best = min(best, time.perf_counter() - t0)
    return best


def run() -> list[dict[str, Any]]:
    empty = _best_s(["-c", "pass"])
    help_s = _best_s(["-m", "runtime.cli", "--help"])
    decide_s = _best_s(["-c", "import runtime.decide.step"])
    return [
        row("cli_help_s", help_s, "s", empty, higher_is_better=False, limit_s=0.4),
        row("import_decide_s", decide_s, "s", empty, higher_is_better=False),
    ]

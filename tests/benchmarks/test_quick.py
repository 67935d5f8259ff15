"""Every benchmark module runs in quick mode on every ``make test``, so none can rot.

The list is ``benchmarks.__main__.discover()``: a new ``bench_*.py`` is picked up without
editing this file. Each module runs in its own ``python -m benchmarks --quick --only NAME``
process (the same entry point as a full run), and every row it prints must carry a
same-run baseline: a number and the ratio against it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import discover

REPO = Path(__file__).resolve().parents[2]
# forecast (the engine's model selection, ~35 s of CPU) and footprint (`gridaios run` to
# steady state) are the longest; on a loaded 2-core box they took 2.5 min of wall time
QUICK_TIMEOUT_S = 600


def test_discover_finds_every_module() -> None:
    on_disk = sorted(p.stem.removeprefix("bench_") for p in (REPO / "benchmarks").glob("bench_*"))
    assert discover() == on_disk
    assert len(on_disk) >= 20


@pytest.mark.slow
@pytest.mark.timeout(QUICK_TIMEOUT_S + 60)
@pytest.mark.parametrize("name", discover())
def test_benchmark_runs_in_quick_mode(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", name],
        cwd=REPO,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "firmware-bridge")]),
        },
        capture_output=True,
        text=True,
        timeout=QUICK_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"bench_{name} --quick failed:\n{done.stderr[-3000:]}"
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert rows, f"bench_{name} printed no rows"
    for row in rows:
        assert {"name", "value", "unit", "baseline", "ratio"} <= row.keys(), row
        assert row["module"] == name and row["quick"] is True, row
    compared = [r for r in rows if isinstance(r["ratio"], int | float)]
    assert compared, f"bench_{name}: no row has a same-run baseline ratio"
    for row in compared:
        assert not math.isnan(row["ratio"]), row

"""A cycle must not import the forecasting package unless a model is really used: it
loads statsforecast (seconds on an edge box), which stalls the loop and the demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

SCRIPT = """
import asyncio, sys
from pathlib import Path
from tests.runtime.agents.support import FIELD_POINTS, T0, conductor, config, feed

async def main() -> None:
    c, _clock, events = conductor(Path(sys.argv[1]), config())
    feed(c, FIELD_POINTS, T0)
    await c.cycle(T0)
    events.close()

asyncio.run(main())
print(sorted(m for m in ("forecasting", "statsforecast", "onnxruntime") if m in sys.modules))
"""


def test_a_cycle_without_history_or_requests_imports_no_model_code(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"

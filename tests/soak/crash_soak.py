"""1,000-kill crash soak (not part of `make test`; about an hour on a small box).

.venv/bin/python -m tests.soak.crash_soak --kills 1000 --seed 1 --workdir var/soak
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from tests.support.crash import Campaign


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kills", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", type=Path, default=Path("var/soak"))
    args = p.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    t0 = time.monotonic()
    with Campaign(args.workdir, seed=args.seed) as campaign:
        for i in range(args.kills):
            campaign.kill_once()
            if (i + 1) % 50 == 0:
                print(f"{i + 1} kills, {time.monotonic() - t0:.0f} s", flush=True)
        report = campaign.finish()
    print(report.summary())
    for problem in report.problems[:50]:
        print("  ", problem)
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())

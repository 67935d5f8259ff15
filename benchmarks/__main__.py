"""``python -m benchmarks [--only NAME] [--list] [--quick]``: run benchmarks, print JSON lines."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

from benchmarks.util import QUICK_ENV

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this benchmark module (repeatable); see --list",
    )
    parser.add_argument("--list", action="store_true", help="list benchmark modules")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes, same code paths (what `make test` runs so no benchmark can rot); "
        "the figures are not comparable with a full run",
    )
    args = parser.parse_args(argv)
    names = discover()
    if args.list:
        print("\n".join(names))
        return 0
    unknown = sorted(set(args.only) - set(names))
    if unknown:
        print(
            f"--only {', '.join(unknown)}: unknown benchmark; known: {', '.join(names)}",
            file=sys.stderr,
        )
        return 2
    if args.quick:
        os.environ[QUICK_ENV] = "1"  # read by benchmarks.util.size() when a module is imported
    failed = 0
    for name in args.only or names:
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.bench_{name}")
            rows = module.run()
        except Exception:  # one broken benchmark must not hide the others
            failed += 1
            traceback.print_exc()
            print(json.dumps({"name": name, "error": traceback.format_exc(limit=1).strip()}))
            continue
        for row in rows:
            row.setdefault("module", name)
            if args.quick:
                row["quick"] = True
            print(json.dumps(row), flush=True)
        print(f"# {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

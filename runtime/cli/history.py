"""``gridaios history export --point ID --from T --to T [--format csv|parquet]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from runtime.cli.replay import utc_time
from runtime.ingest.historian import Historian

DEFAULT_ROOT = Path("var/gridaios/history")


def register(sub: Any) -> None:
    p = sub.add_parser("history", help="telemetry history (Parquet)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    ex = actions.add_parser("export", help="one point's samples in a time window")
    ex.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="historian directory")
    ex.add_argument("--point", required=True, help="point id, e.g. bat1.soc_pct")
    ex.add_argument("--from", dest="since", type=utc_time, required=True, help="ISO time (UTC)")
    ex.add_argument("--to", dest="until", type=utc_time, required=True, help="ISO time (UTC)")
    ex.add_argument("--format", choices=("csv", "parquet"), default="csv")
    ex.add_argument("--out", type=Path, default=None, help="file (default: CSV to stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.root.is_dir():
        print(f"--root {args.root}: no historian there", file=sys.stderr)
        return 2
    if args.until <= args.since:
        print(f"--to {args.until.isoformat()} must be after --from", file=sys.stderr)
        return 2
    if args.format == "parquet" and args.out is None:
        print("--format parquet needs --out FILE", file=sys.stderr)
        return 2
    frame = Historian(args.root).read(point=args.point, since=args.since, until=args.until)
    if frame.is_empty():
        print(
            f"no samples for point {args.point!r} between {args.since.isoformat()} and "
            f"{args.until.isoformat()}",
            file=sys.stderr,
        )
        return 1
    if args.format == "parquet":
        frame.write_parquet(args.out)
    elif args.out is not None:
        frame.write_csv(args.out)
    else:
        sys.stdout.write(frame.write_csv())
    if args.out is not None:
        print(f"{frame.height} samples of {args.point} -> {args.out}", file=sys.stderr)
    return 0

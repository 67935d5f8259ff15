"""``gridaios dlq list|show ID|retry ID|drop ID``: the dead-letter queue."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from gridaios_data import state_path
from runtime.core.errors import NotFound
from runtime.log.deadletter import DeadLetterError, DeadLetterStore, Status

DEFAULT_DLQ = state_path("deadletters.db")


def register(sub: Any) -> None:
    p = sub.add_parser("dlq", help="inspect, retry or drop dead letters")
    p.add_argument(
        "--dlq",
        type=Path,
        default=None,
        help=f"dead-letter store (SQLite); default: next to --db, else $GRIDAIOS_DLQ, else "
        f"{DEFAULT_DLQ} (where `gridaios run` keeps it)",
    )
    p.add_argument(
        "--db", type=Path, default=None, help="the event log of a run: its store is next to it"
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser("list", help="entries, newest first")
    ls.add_argument("--status", choices=[s.value for s in Status], default=None)
    ls.add_argument("--json", action="store_true", help="JSON lines, raw bytes in hex")
    for name, text in (
        ("show", "one entry with its raw payload"),
        ("retry", "hand back to its owner"),
        ("drop", "close it"),
    ):
        a = actions.add_parser(name, help=text)
        a.add_argument("id", type=int)
    p.set_defaults(func=run)


def find_store(dlq: Path | None, db: Path | None, env: str | None) -> tuple[Path | None, str]:
    """The store to open, and where it looked (for the error when there is none):
    --dlq, else the one next to --db (as `gridaios run --db` keeps it), else $GRIDAIOS_DLQ,
    else the default of `gridaios run`."""
    if dlq is not None:
        return (dlq if dlq.exists() else None), f"--dlq {dlq}"
    candidates: list[tuple[Path, str]] = []
    if db is not None:
        candidates.append((db.with_name("deadletters.db"), f"next to --db {db}"))
    if env:
        candidates.append((Path(env), "$GRIDAIOS_DLQ"))
    # read at call time: $GRIDAIOS_STATE_DIR may be set after this module was imported
    candidates.append((state_path("deadletters.db"), "the default of gridaios run"))
    for path, _why in candidates:
        if path.exists():
            return path, str(path)
    looked = "; ".join(f"{path} ({why})" for path, why in candidates)
    return None, looked


def run(args: argparse.Namespace) -> int:
    path, looked = find_store(args.dlq, args.db, os.environ.get("GRIDAIOS_DLQ"))
    if path is None:
        print(
            f"no dead-letter store found (looked at {looked}); give --dlq PATH, or --db with "
            "the event log of the run",
            file=sys.stderr,
        )
        return 2
    store = DeadLetterStore(path)
    try:
        if args.action == "list":
            status = Status(args.status) if args.status else None
            entries = store.list(status=status)
            if args.json:
                for e in entries:
                    print(
                        json.dumps(
                            {
                                "id": e.id,
                                "ts": e.ts.isoformat(),
                                "status": e.status.value,
                                "kind": e.kind,
                                "source": e.source,
                                "reason": e.reason,
                                "payload_hex": e.payload.hex(),
                            }
                        )
                    )
                return 0
            for e in entries:
                print(
                    f"{e.id:>6}  {e.ts:%Y-%m-%d %H:%M:%S}  {e.status.value:<8} {e.kind:<16} "
                    f"{e.source:<24} {e.reason}"
                )
            print(f"{len(entries)} entries")
            return 0
        if args.action == "show":
            e = store.get(args.id)
            print(f"id {e.id}  {e.kind} from {e.source} at {e.ts.isoformat()}  [{e.status.value}]")
            print(f"reason: {e.reason}")
            print(f"payload ({len(e.payload)} bytes): {e.payload!r}")
            return 0
        if args.action == "retry":
            e = store.retry(args.id)
            print(f"dead letter {e.id} queued for retry by its owner ({e.kind})")
            return 0
        e = store.drop(args.id)
        print(f"dead letter {e.id} dropped")
        return 0
    except (NotFound, DeadLetterError) as err:
        print(err, file=sys.stderr)
        return 1
    finally:
        store.close()

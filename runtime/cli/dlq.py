"""``gridaios dlq list``: show bad input kept in the dead-letter store, newest first."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from runtime.deadletter import DeadLetterStore

DEFAULT_DB = Path("var/gridaios/deadletter.db")


def register(sub: Any) -> None:
    p = sub.add_parser("dlq", help="inspect the dead-letter store (bad input, raw bytes)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("list", help="list dead letters, newest first")
    show.add_argument("--db", type=Path, default=DEFAULT_DB)
    show.add_argument("--source", default=None, help="only this source id")
    show.add_argument("--kind", default=None, help="only this kind, e.g. mqtt-json")
    show.add_argument("--limit", type=int, default=50)
    show.add_argument("--json", action="store_true", help="JSON lines, payload as hex")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.db.exists():
        print(f"--db {args.db}: no dead-letter store there", file=sys.stderr)
        return 2
    store = DeadLetterStore(args.db)
    try:
        items = store.list(source=args.source, kind=args.kind, limit=args.limit)
    finally:
        store.close()
    for d in items:
        if args.json:
            row = {
                "id": d.id,
                "ts": d.ts.isoformat(),
                "kind": d.kind,
                "source": d.source,
                "reason": d.reason,
                "payload_hex": d.payload.hex(),
            }
            print(json.dumps(row))
        else:
            shown = d.payload[:120].decode("utf-8", errors="backslashreplace")
            more = f" ... ({len(d.payload)} bytes)" if len(d.payload) > 120 else ""
            print(f"#{d.id} {d.ts.isoformat()} {d.kind} {d.source}: {d.reason}")
            print(f"    {shown}{more}")
    if not items:
        print(f"{args.db}: no dead letters")
    return 0

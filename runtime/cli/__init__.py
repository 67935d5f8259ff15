"""The ``gridaios`` command line. Each subcommand lives in its own module with ``register()``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from runtime.cli import (
    approvals,
    ask,
    audit,
    canary,
    check_config,
    demo,
    dlq,
    explain,
    forecast,
    history,
    probe,
    replay,
    revert,
    run,
    safety,
    serve,
    shadow,
    sim,
    users,
)

COMMANDS = (
    check_config,
    demo,
    run,
    approvals,
    explain,
    audit,
    replay,
    revert,
    dlq,
    history,
    probe,
    sim,
    safety,
    forecast,
    ask,
    shadow,
    canary,
    serve,
    users,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridaios",
        description="Edge runtime for demand response and DER dispatch, behind a safety gate.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("asyncua").setLevel(logging.ERROR)
    try:
        code: int = args.func(args)
    except Exception as err:  # a storage fault: its own exit code and a one-line cause
        from runtime.log.anchor import EXIT_STORAGE, storage_cause

        cause = storage_cause(err)
        if cause is None:
            raise
        print(f"gridaios {args.command}: storage error: {cause} ({err})", file=sys.stderr)
        return EXIT_STORAGE
    return code


if __name__ == "__main__":
    sys.exit(main())

"""The ``gridaios`` command line. Each subcommand lives in its own module with ``register()``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

#: Subcommand modules, imported when the parser is built: ``gridaios ask`` imports only
#: its own (the others pull in the simulator, asyncua, FastAPI...; issue #20 wants ask
#: to answer from the rules within two seconds of starting).
COMMAND_NAMES = (
    "check_config",
    "demo",
    "run",
    "approvals",
    "explain",
    "audit",
    "replay",
    "revert",
    "dlq",
    "dr",
    "history",
    "probe",
    "browse",
    "sim",
    "safety",
    "forecast",
    "ask",
    "shadow",
    "canary",
    "serve",
    "users",
)
FAST = frozenset({"ask"})


def commands(only: str | None = None) -> tuple[ModuleType, ...]:
    names = (only,) if only in FAST else COMMAND_NAMES
    return tuple(importlib.import_module(f"runtime.cli.{n}") for n in names)


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridaios",
        description="Edge runtime for demand response and DER dispatch, behind a safety gate.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in commands(only):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv and argv[0] in FAST else None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("asyncua").setLevel(logging.ERROR)
    try:
        code: int = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (`gridaios check-config x | head`): stop quietly, as cat does
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())

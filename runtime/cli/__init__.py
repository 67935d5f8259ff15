"""The ``gridaios`` command line. Each subcommand lives in its own module with ``register()``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# The subcommands, in --help order: name, module (imported only when that subcommand runs:
# a lazy dispatcher, so ``gridaios --help`` loads no I/O library), one-line help.
# tests/runtime/test_fast_start.py checks each line against what the module registers.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    (
        "init",
        "init",
        "lay out a site directory: site.yaml skeleton, users.db, OPC UA client key + cert",
    ),
    ("check-config", "check_config", "validate a site config (exit 2 on errors)"),
    ("demo", "demo", "run the evening-peak demo against the virtual field"),
    ("run", "run", "run the conductor against a site's sources until stopped"),
    ("approvals", "approvals", "list, approve or reject dispatches awaiting sign-off"),
    ("explain", "explain", "why did this dispatch happen: its whole decision record"),
    ("audit", "audit", "verify the event log or show a dispatch's chain"),
    ("replay", "replay", "re-run policy, gate, validation and approval rule"),
    ("revert", "revert", "ask the running conductor to revert a verified dispatch"),
    ("dlq", "dlq", "inspect, retry or drop dead letters"),
    ("dr", "dr", "demand-response programs: M&V reports of DR events"),
    ("history", "history", "telemetry history (Parquet)"),
    ("probe", "probe", "connect to every source of a config; print samples"),
    ("browse", "browse", "list an OPC UA server's nodes: ids, types, access, units"),
    ("sim", "sim", "simulator tools"),
    ("safety", "safety", "check a plan against the safety envelope, offline"),
    ("forecast", "forecast", "statistical load and PV forecasts"),
    ("ask", "ask", "operator request or question -> read-back, verdict, answer"),
    ("shadow", "shadow", "run production and a candidate policy side by side in simulated time"),
    ("canary", "canary", "run a candidate policy live in shadow mode; promote or roll back"),
    ("serve", "serve", "serve the HTTP API and console over an event log"),
    ("users", "users", "add users, list them, issue API tokens, unlock accounts"),
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; ``command``: the one subcommand registered in full (its module imported),
    every other one is a name and a help line only. None: all of them in full."""
    parser = argparse.ArgumentParser(
        prog="gridaios",
        description="Edge runtime for demand response and DER dispatch, behind a safety gate.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module, help_text in COMMANDS:
        if command is None or name == command:
            importlib.import_module(f"runtime.cli.{module}").register(sub)
        else:
            sub.add_parser(name, help=help_text)
    return parser


def requested(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line (the first argument that is one)."""
    names = {name for name, _, _ in COMMANDS}
    return next((a for a in argv if a in names), None)


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    command = requested(args_in)
    parser = build_parser(command) if command is not None else build_parser("")
    args = parser.parse_args(args_in)
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
    except Exception as err:  # a storage fault: its own exit code and a one-line cause
        from runtime.log.anchor import EXIT_STORAGE, storage_cause

        cause = storage_cause(err)
        if cause is None:
            raise
        cause = _full_disk(cause, getattr(args, "db", None))
        print(f"gridaios {args.command}: storage error: {cause} ({err})", file=sys.stderr)
        return EXIT_STORAGE
    return code


def _full_disk(cause: str, db: object) -> str:
    """SQLite reports a WAL or shared-memory file that cannot grow as a generic I/O
    error; when the log's file system has no free space, that is the cause to say."""
    import os

    if "i/o error" not in cause.lower() or db is None:
        return cause
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(str(db))))
    except OSError:
        return cause
    if st.f_bavail * st.f_frsize < 64 * 1024:
        return f"the disk is full ({cause}); free space and retry"
    return cause


if __name__ == "__main__":
    sys.exit(main())

"""``gridaios ask "TEXT"``: an operator's request or question -> a read-back and the gate's verdict.

Commands are understood by the rules first (``runtime.words``: units, number words,
typos, names and aliases from the config, times in ``safety.timezone``), then by the
local LLM as a grounded slot filler. The read-back says exactly what would be
proposed; the gate's verdict is a preview against assumed state. Nothing is sent
from here: ``--propose`` queues the request for the running conductor (its
operator-intent agent proposes it through the normal path) after the operator
confirms the read-back (a prompt on a terminal, ``--confirm CODE`` in a script).
Questions are answered from the event log (``--db``). With ``--api`` the running
runtime (its model already loaded) answers instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import gridaios_data
from gridaios_data import state_path
from runtime.config.load import load_config
from runtime.config.model import SiteConfig
from runtime.core.clock import Clock, WallClock
from runtime.core.errors import ConfigError
from runtime.words.confirm import assumed_state, confirm_code, intent_of
from safety import StateSnapshot

DEFAULT_CONFIG = str(gridaios_data.DEMO_CONFIG)
DEFAULT_DB = state_path("events.db")


def register(sub: Any) -> None:
    p = sub.add_parser("ask", help="operator request or question -> read-back, verdict, answer")
    p.add_argument("text", help='e.g. "discharge the community battery at 0.15 MW till 8pm"')
    p.add_argument("--config", default=DEFAULT_CONFIG, help="site config YAML")
    p.add_argument("--router", default=None, help=argparse.SUPPRESS)  # older scripts pass it
    p.add_argument(
        "--tz", default=None, help="zone of times in the request (default: safety.timezone)"
    )
    p.add_argument("--no-llm", action="store_true", help="rules only, never load the LLM")
    p.add_argument(
        "--state",
        choices=("config", "none"),
        default="config",
        help="state the gate sees: initial values from the config (default) or none",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--propose",
        action="store_true",
        help="queue the request for the running conductor after the read-back is confirmed",
    )
    p.add_argument(
        "--confirm",
        default=None,
        metavar="CODE",
        help="with --propose, not on a terminal: the read-back's code from a previous ask",
    )
    p.add_argument("--user", default=None, help="proposer with --propose (default: login name)")
    p.add_argument(
        "--db",
        type=Path,
        default=DEFAULT_DB,
        help=f"the runtime's event log (default {DEFAULT_DB})",
    )
    p.add_argument(
        "--api",
        default=os.environ.get("GRIDAIOS_API"),
        help="ask the running runtime's API (its model stays loaded), e.g. http://127.0.0.1:8080",
    )
    p.add_argument(
        "--token",
        default=os.environ.get("GRIDAIOS_TOKEN"),
        help="API token (with --api; with --propose it proves --user)",
    )
    p.add_argument(
        "--password-stdin", action="store_true", help="--propose: read --user's password from stdin"
    )
    p.add_argument(
        "--users", type=Path, default=None, help="users store (default: users.db next to --db)"
    )
    p.add_argument(
        "--at",
        default=None,
        metavar="ISO",
        help="answer as of this instant (e.g. 2026-06-15T15:10Z, a recorded or simulated day)",
    )
    p.set_defaults(func=run)


def _ask_api(args: argparse.Namespace) -> int:
    from runtime.api.client import ApiClient, ApiError

    try:
        client = ApiClient(args.api, args.token or "", timeout_s=20)
        out = client.request("POST", "/api/ask", {"text": args.text})
    except (ApiError, ValueError, OSError) as err:
        print(f"--api {args.api}: {err}", file=sys.stderr)
        return 2
    print(json.dumps(out) if args.json else out.get("reply", ""))
    return 0


def run(args: argparse.Namespace, clock: Clock | None = None) -> int:
    if args.api and not args.propose:
        return _ask_api(args)
    from runtime.words.readback import read_back
    from runtime.words.understand import understand
    from runtime.words.vocab import vocabulary

    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    tz = args.tz or config.safety.timezone
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"--tz {tz!r}: unknown time zone (e.g. UTC, Europe/Berlin)", file=sys.stderr)
        return 2
    now = (clock or WallClock())()
    if args.at:
        try:
            now = datetime.fromisoformat(args.at.replace("Z", "+00:00"))
        except ValueError:
            now = None  # type: ignore[assignment]
        if now is None or now.tzinfo is None:
            print(
                f"--at {args.at!r}: give an ISO time with its zone, e.g. 2026-06-15T15:10Z",
                file=sys.stderr,
            )
            return 2
    vocab = vocabulary(config)
    default_s = config.agents.operator_intent.command_duration_s
    u = understand(args.text, vocab, now, zone, default_s=default_s)
    tier = "rules"
    attempts = [f"rules: {'understood' if u.kind != 'unknown' else 'declined'}"]
    if u.kind == "unknown" and not args.no_llm:
        from runtime.words.slots import SlotFiller, SlotsUnavailable

        try:
            u = SlotFiller(vocab).fill(u, now, zone, default_s)
            tier = u.tier
            attempts.append(f"llm: {'understood' if u.is_command else 'declined: ' + u.message}")
        except SlotsUnavailable as err:
            u = type(u)(**{**_fields(u), "message": f"{u.message} ({err})"})
            attempts.append(f"llm: unavailable: {err}")
    if not u.is_command and u.kind != "question":
        tier = tier if tier == "llm" or u.kind == "refused" else "fallback"
    out: dict[str, Any] = {
        "request": args.text,
        "kind": u.kind,
        "tier": tier,
        "attempts": attempts,
        "intent": intent_of(u, zone),
        "message": u.message,
        "timezone": zone.key,
        "state": "assumed from config initial values (not live)"
        if args.state == "config"
        else "none (the gate fails closed)",
        "dispatched": False,
        "command": None,
        "verdict": None,
        "approval": None,
    }
    if u.kind == "question" and u.question is not None:
        out["answer"] = _answer(u, args, vocab, now, zone, config)
    if u.is_command:
        out.update(_preview(u, config, now, args.state))
        out["readback"] = read_back(u, vocab, zone, now)
        out["confirm"] = confirm_code(u)
    if args.propose:
        code = _propose(args, u, out, now, zone)
        if code:
            return code
    if args.json:
        print(json.dumps(out))
        return 0
    _print(out)
    return 0


def _fields(u: Any) -> dict[str, Any]:
    return {f: getattr(u, f) for f in u.__dataclass_fields__}


def _preview(u: Any, config: SiteConfig, now: datetime, state: str) -> dict[str, Any]:
    from runtime.config import site
    from runtime.decide.approval_rule import approval_requirement
    from runtime.log import records
    from runtime.words.command import to_command
    from safety import Accepted, Clamped, evaluate

    command = to_command(u, key=f"ask-{uuid.uuid4().hex[:12]}", now=now)
    assert command is not None
    snapshot = assumed_state(config, now) if state == "config" else StateSnapshot()
    verdict = evaluate([command], snapshot, site.envelope(config), now)[0]
    vj = records.gated(verdict).model_dump(mode="json", exclude={"kind", "v", "recheck"})
    # the conductor's rule (a curtailment on the kW it sheds), on the gated value
    approved = verdict.approved if isinstance(verdict, Accepted | Clamped) else None
    approval = (
        approval_requirement(config, approved.command, approved.value, snapshot)[0].value
        if approved is not None
        else None
    )
    return {
        "command": records.command_body(command).model_dump(mode="json"),
        "verdict": vj,
        "approval": approval,
    }


def _answer(
    u: Any, args: argparse.Namespace, vocab: Any, now: datetime, zone: ZoneInfo, config: SiteConfig
) -> str:
    from runtime.config import site
    from runtime.log.eventlog import EventLog
    from runtime.words.answer import answer, peak_of

    def peak() -> tuple[float, datetime] | None:
        """The forecast engine's output file (``gridaios forecast run`` writes it)."""
        if config.forecast is None:
            return None
        path = Path(args.config).parent / config.forecast.output
        if not path.is_file():
            return None
        import polars as pl

        frame = pl.read_parquet(path).sort("ds")
        series: dict[str, list[tuple[datetime, float]]] = {}
        for r in frame.iter_rows(named=True):
            ds = r["ds"] if r["ds"].tzinfo else r["ds"].replace(tzinfo=now.tzinfo)
            series.setdefault(str(r["unique_id"]), []).append((ds, float(r["yhat"])))
        return peak_of(list(series.items()), site.point_id(config.feeder.meter, "p_kw"), now)

    db = args.db
    log = EventLog(db, readonly=True) if db.is_file() else None
    try:
        return answer(
            u.question, log, vocab, now, zone, max_age_s=config.safety.max_age_s, forecast_peak=peak
        )
    finally:
        if log is not None:
            log.close()


def _propose(
    args: argparse.Namespace, u: Any, out: dict[str, Any], now: datetime, zone: ZoneInfo
) -> int:
    if not u.is_command:
        print(
            f"--propose: nothing queued: {u.message or 'the request is a question'}",
            file=sys.stderr,
        )
        return 2
    if u.end - now > _day():
        print(
            "--propose: an end more than 24 h ahead cannot be queued; ask again later",
            file=sys.stderr,
        )
        return 2
    if not args.db.is_file():
        print(f"--db {args.db}: no event log there; pass the runtime's", file=sys.stderr)
        return 2
    if args.confirm is None:
        if not sys.stdin.isatty():
            print(
                f"read-back: {out['readback']}\n--propose: confirm it: run again with "
                f"--confirm {out['confirm']}",
                file=sys.stderr,
            )
            return 2
        reply = input(f"read-back: {out['readback']}\npropose this? [y/N] ").strip().lower()
        if reply not in ("y", "yes"):
            print("not proposed", file=sys.stderr)
            return 1
    elif args.confirm != out["confirm"]:
        print(
            f"--confirm {args.confirm}: the read-back is now {out['readback']!r} (code "
            f"{out['confirm']}); nothing queued",
            file=sys.stderr,
        )
        return 2
    from forecasting.intent import validate_intent
    from runtime.agents.intent import request
    from runtime.cli.local_auth import prove
    from runtime.log.eventlog import EventLog

    proven = prove(args)  # the proposer is a proven person: they cannot approve it
    if proven is None:
        return 2
    log = EventLog(args.db)
    try:
        user = proven.username
        out["requested"] = request(
            log,
            user=user,
            text=args.text,
            intent=validate_intent(out["intent"]),
            tier=out["tier"],
            now=now,
            auth=proven.auth,
        )
    finally:
        log.close()
    return 0


def _day() -> Any:
    from datetime import timedelta

    return timedelta(hours=24)


def _print(out: dict[str, Any]) -> None:
    print(f"request : {out['request']}")
    if out["kind"] == "question":
        print(out.get("answer", ""))
        return
    if out["command"] is None:
        print(f"not proposed: {out['message']}  (via {out['tier']})")
        return
    print(f"read-back: {out['readback']}  (via {out['tier']}; confirm code {out['confirm']})")
    v = out["verdict"]
    print(f"verdict : {v['outcome']}" + (f" at {v['value']:g}" if v["value"] is not None else ""))
    for hit in v["constraints"]:
        print(f"          {hit['constraint']}: {hit['reason']}")
    print(f"state   : {out['state']}")
    if out["approval"]:
        print(f"approval: {out['approval']} (via the normal approval path; nothing was sent)")
    else:
        print("approval: n/a; nothing was sent")
    if out.get("requested"):
        print(f"queued  : request {out['requested']} for the running conductor (agent.decided)")

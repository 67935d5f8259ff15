"""``gridaios shadow (--scenario NAME | --history FROM..TO) --candidate NAME``.

Runs production and the candidate side by side in simulated time and writes a
self-contained HTML report (``var/gridaios/shadow/`` unless ``--report``; with
``--json`` a report is written only when ``--report`` names one). With
``--json`` the last line printed is
``{"production": {...}, "candidate": {...}, "decisions_differ": N}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.cli.history import DEFAULT_ROOT

if TYPE_CHECKING:
    from runtime.config.model import SiteConfig
    from runtime.decide.candidates import ActivePolicy


def register(sub: Any) -> None:
    p = sub.add_parser(
        "shadow", help="run production and a candidate policy side by side in simulated time"
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--scenario", help="simulator scenario name (configs/scenarios) or YAML path"
    )
    source.add_argument(
        "--history", metavar="FROM..TO", help="recorded telemetry window, ISO times (UTC)"
    )
    p.add_argument(
        "--candidate", required=True, help="a name under policy.candidates, or production"
    )
    p.add_argument("--config", default=None, help="site config (default: the demo feeder)")
    p.add_argument("--report", type=Path, default=None, help="HTML report path")
    p.add_argument("--json", action="store_true", help="print the KPIs as JSON (last line)")
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="scenario mode: run N seeds (the scenario's, then +1, ...) and report the spread",
    )
    p.add_argument(
        "--historian",
        type=Path,
        default=None,
        help=f"historian root (history mode; {DEFAULT_ROOT})",
    )
    p.add_argument(
        "--db",
        type=Path,
        default=None,
        help="event log: telemetry.sample events (history mode) and the promoted production policy",
    )
    p.add_argument(
        "--step-s", type=float, default=60.0, help="history mode: resampling step (default 60 s)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from runtime.config.load import load_config
    from runtime.core.errors import ConfigError
    from runtime.decide.candidates import UnknownCandidate, resolve_policy
    from runtime.demo.feeder import DEFAULT_CONFIG, SCENARIO_DIR
    from runtime.shadow import InputsError, from_history, from_scenario, parse_range, run_shadow
    from runtime.shadow.engine import ForecastModelError
    from runtime.shadow.report import REPORTS_DIR, shadow_html, write
    from simulator import NetworkError, ScenarioError, load_scenario

    try:
        config = load_config(args.config or DEFAULT_CONFIG)
        production = _production(config, args.db)
        candidate = (
            production if args.candidate == "production" else resolve_policy(config, args.candidate)
        )
        if args.scenario is not None:
            inputs = from_scenario(config, load_scenario(args.scenario, SCENARIO_DIR))
        else:
            since, until = parse_range(args.history)
            historian = args.historian
            if historian is None and args.db is None:
                historian = DEFAULT_ROOT
            inputs = from_history(
                config, since, until, historian=historian, db=args.db, step_s=args.step_s
            )
        result = run_shadow(config, inputs, production, candidate)
        others = []
        if args.scenario is not None and args.seeds > 1:
            scenario = load_scenario(args.scenario, SCENARIO_DIR)
            for k in range(1, args.seeds):
                seeded = scenario.model_copy(update={"seed": scenario.seed + k})
                others.append(
                    run_shadow(config, from_scenario(config, seeded), production, candidate)
                )
    except UnknownCandidate as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ConfigError, ScenarioError, NetworkError, InputsError, ForecastModelError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = result.as_json()
    spread_rows = []
    if others:
        from runtime.shadow.verdict import spread

        runs = [(r.as_json()["production"], r.as_json()["candidate"]) for r in [result, *others]]
        spread_rows = spread(runs)  # type: ignore[arg-type]
        summary["seeds"] = len(runs)
        summary["spread"] = {
            row.key: {
                "production": list(row.production),
                "candidate": list(row.candidate),
                "difference": list(row.difference),
                "verdict": row.verdict(),
            }
            for row in spread_rows
        }
    if not args.json:
        _print_table(summary)
        if spread_rows:
            _print_spread(spread_rows)
    # --json alone is for scripts: no report file as a side effect unless --report asks for one
    if args.report is not None or not args.json:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        label = args.scenario or "history"
        name = f"shadow-{stamp}-{Path(label).stem}-{candidate.name}.html"
        path = args.report or REPORTS_DIR / name
        write(path, shadow_html(result, spread_rows=spread_rows))
        print(f"report: {path}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(summary))
    return 0


def _production(config: SiteConfig, db: Path | None) -> ActivePolicy:
    """The config's production policy, or the one a ``canary promote`` in ``db`` made production."""
    from runtime.decide.candidates import resolve_policy
    from runtime.log.eventlog import EventLog
    from runtime.shadow import canary

    if db is None or not db.is_file():
        return resolve_policy(config, "production")
    log = EventLog(db, readonly=True)
    try:
        return canary.production_policy(config, canary.load_state(log))
    finally:
        log.close()


def _print_table(summary: dict[str, Any]) -> None:
    from runtime.shadow.verdict import fmt, overall, verdicts

    prod, cand = summary["production"], summary["candidate"]
    print(f"production: {prod['policy']} (forecast: {prod['forecast']})")
    print(f"candidate:  {cand['policy']} (forecast: {cand['forecast']})")
    print(f"{'':<42}{'production':>12}{'candidate':>12}{'difference':>12}  verdict")
    items = verdicts(prod, cand)
    for v in items:
        diff = ("+" if v.difference > 0 else "") + fmt(v.difference)
        print(f"{v.label:<42}{fmt(v.production):>12}{fmt(v.candidate):>12}{diff:>12}  {v.verdict}")
    for side in (prod, cand):
        tiers = side.get("proposals_by_tier") or {}
        if isinstance(tiers, dict) and tiers:
            counts = ", ".join(f"{tier} {n}" for tier, n in tiers.items())
            print(f"proposals by agent tier ({side['policy']}): {counts}")
    print(overall(items))
    print(f"decisions differ at {summary['decisions_differ']} instant(s)")


def _print_spread(rows: list[Any]) -> None:
    from runtime.shadow.verdict import fmt_stats

    print(f"over {rows[0].runs} seeds: mean (min..max)")
    print(f"{'':<42}{'production':>22}{'candidate':>22}  verdict")
    for r in rows:
        print(
            f"{r.label:<42}{fmt_stats(r.production):>22}{fmt_stats(r.candidate):>22}  {r.verdict()}"
        )

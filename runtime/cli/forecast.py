"""``gridaios forecast backtest|run``: rolling-origin backtests and scheduled forecasts."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from runtime.config.load import load_config
from runtime.core.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser("forecast", help="statistical load and PV forecasts")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = actions.add_parser("backtest", help="rolling-origin backtest of every candidate model")
    b.add_argument("--data", required=True, help="Parquet file with unique_id, ds, y")
    b.add_argument("--horizon", required=True, help="steps (96) or a duration (24h, 90m)")
    b.add_argument("--freq", default="15m", help="15m or 1h (default 15m)")
    b.add_argument("--windows", type=int, default=2, help="backtest origins (default 2)")
    b.add_argument("--tz", default=None, help="local zone of naive timestamps")
    b.add_argument("--mstl", action="store_true", help="also score MSTL(daily, weekly) (slow)")
    b.add_argument("--json", action="store_true", help="last line: one JSON object")
    b.set_defaults(func=run_backtest)
    r = actions.add_parser("run", help="forecast every series in the site's history file")
    r.add_argument("--config", required=True, help="site config with a forecast: section")
    r.add_argument("--refit", action="store_true", help="re-select models even if not due")
    r.add_argument("--json", action="store_true", help="print the per-series metadata as JSON")
    r.set_defaults(func=run_forecast)


def _numba_cache() -> None:
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path("var") / "numba"))


def parse_horizon(text: str, freq: str) -> int:
    from forecasting import FREQS, FrameError, parse_freq

    step = FREQS[parse_freq(freq)]
    t = text.strip().lower()
    try:
        if t.endswith("h"):
            return int(timedelta(hours=float(t[:-1])) / step)
        if t.endswith("m"):
            return int(timedelta(minutes=float(t[:-1])) / step)
        return int(t)
    except ValueError as err:
        raise FrameError(f"--horizon {text!r}: give steps (96) or a duration (24h)") from err


def run_backtest(args: argparse.Namespace) -> int:
    _numba_cache()
    from forecasting import ForecastError, backtest, clean

    try:
        raw = pl.read_parquet(args.data)
    except (OSError, pl.exceptions.PolarsError) as err:
        print(f"{args.data}: cannot read Parquet: {err}", file=sys.stderr)
        return 2
    try:
        frame = clean(raw, args.freq, tz=args.tz)
        h = parse_horizon(args.horizon, frame.freq)
        if h < 1 or h * frame.step > timedelta(hours=48):
            raise ForecastError(f"--horizon {args.horizon}: must be between one step and 48 h")
        result = backtest(frame, h, args.windows, include_mstl=args.mstl)
    except ForecastError as err:
        print(f"{args.data}: {err}", file=sys.stderr)
        return 2
    repaired = {uid: f.as_dict() for uid, f in frame.flags.items() if f.repaired}
    n_series = len(frame.flags)
    print(f"{args.data}: {n_series} series, horizon {h} steps, {args.windows} window(s)")
    if repaired:
        print(f"  repaired input in {len(repaired)} series: {json.dumps(repaired)}")
    for name, why in result.skipped.items():
        print(f"  skipped {name}: {why}")
    for m in result.models:
        mark = " (best)" if m.name == result.best else ""
        print(
            f"  {m.name:<20} MASE {m.mase:7.4f}  sMAPE {m.smape:6.2f}%  "
            f"cov80 {m.coverage_80:5.3f}  {m.seconds:7.2f} s{mark}"
        )
    if args.json:
        print(json.dumps(result.as_dict()))
    return 0


def _history(path: Path, days: float, freq: str, now: datetime) -> pl.DataFrame:
    """A Parquet file as it is, or the historian's directory averaged to ``freq`` slots."""
    if not path.is_dir():
        return pl.read_parquet(path)
    from runtime.ingest.historian import Historian

    every = timedelta(minutes=15) if freq == "15m" else timedelta(hours=1)
    return Historian(path).forecast_frame(now - timedelta(days=days), now, every)


def run_forecast(args: argparse.Namespace) -> int:
    _numba_cache()
    from forecasting import EngineConfig, ForecastEngine, ForecastError, Selection, clean

    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    fc = config.forecast
    if fc is None:
        print(
            f"{args.config}: no forecast: section; add one with history: PATH.parquet",
            file=sys.stderr,
        )
        return 2
    base = Path(args.config).parent
    history = base / fc.history
    output = base / fc.output
    state_file = output.with_suffix(".selection.json")
    now = datetime.now(UTC)
    try:
        raw = _history(history, fc.history_days, fc.freq, now)
    except (OSError, pl.exceptions.PolarsError) as err:
        print(f"{args.config}: forecast.history {history}: cannot read: {err}", file=sys.stderr)
        return 2
    if raw.is_empty():
        print(
            f"{args.config}: forecast.history {history}: no good samples in the last "
            f"{fc.history_days:g} days; check the path or raise history_days",
            file=sys.stderr,
        )
        return 2
    try:
        frame = clean(raw, fc.freq)
        engine = ForecastEngine(
            EngineConfig(
                freq=frame.freq,
                horizon=timedelta(hours=fc.horizon_h),
                backtest_windows=fc.backtest_windows,
                n_jobs=fc.n_jobs,
                calendar=_calendar(fc.calendar),
            )
        )
        selection = None
        if state_file.exists() and not args.refit:
            selection = Selection.from_json(json.loads(state_file.read_text(encoding="utf-8")))
            if selection.freq != frame.freq or selection.due(
                now, timedelta(hours=fc.refit_every_h)
            ):
                selection = None
        refit = selection is None
        if selection is None:
            selection = engine.select(frame, now)
        result = engine.forecast(frame, selection)
    except ForecastError as err:
        print(f"{args.config}: {err}", file=sys.stderr)
        return 2
    output.parent.mkdir(parents=True, exist_ok=True)
    result.frame.write_parquet(output)
    if refit:
        state_file.write_text(json.dumps(selection.to_json(), indent=1), encoding="utf-8")
    fallbacks = {u: m["reason"] for u, m in result.metadata.items() if m["fallback"]}
    print(
        f"{config.site.id}: {len(result.metadata)} series, {fc.horizon_h:g} h at {frame.freq} -> "
        f"{output} ({'models re-selected' if refit else 'selection from ' + str(state_file)})"
    )
    for uid, why in sorted(fallbacks.items()):
        print(f"  fallback {uid}: {why}")
    if args.json:
        print(json.dumps(result.metadata))
    return 0


def _calendar(cfg: Any) -> Any:
    """The site calendar of ``forecast.calendar`` (a ForecastError names a bad field)."""
    if cfg is None:
        return None
    from forecasting.calendar import SiteCalendar

    return SiteCalendar(
        country=cfg.country,
        subdivision=cfg.subdivision,
        tz=cfg.tz,
        extra_holidays=tuple(cfg.extra_holidays),
    )

"""``gridaios probe CONFIG [--seconds N]``: connect to every source, print decoded samples.

The integrator's first tool on site. Each sample is one JSON line on stdout
(``source``, ``point``, ``value``, ``unit``, ``quality``, ``ts``); each problem (unreachable,
auth failed, unknown node, bad input) is one clear line on stderr naming the source.
Exit 0 if every source connected, 1 if any failed, 2 if the config is invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from connectors import ConnectorAuthFailed, ConnectorError, ConnectorNotReady, Sample, UnknownPoint
from runtime.config import site
from runtime.config.model import SiteConfig, load_config
from runtime.core.clock import WallClock
from runtime.core.errors import ConfigError
from runtime.ingest.sources import SourceClient, make_client


def register(sub: Any) -> None:
    p = sub.add_parser("probe", help="connect to every source of a config; print samples")
    p.add_argument("config", help="site config YAML")
    p.add_argument("--seconds", type=float, default=5.0, help="how long to listen (default 5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as err:
        for issue in err.issues:
            print(issue.render(err.file), file=sys.stderr)
        return 2
    failed = asyncio.run(probe(config, args.seconds))
    return 1 if failed else 0


def _print_sample(source: str) -> Any:
    def emit(sample: Sample) -> None:
        row = {
            "source": source,
            "point": sample.point,
            "value": sample.value,
            "unit": sample.unit,
            "quality": sample.quality.value,
            "ts": sample.source_ts.isoformat(),
        }
        print(json.dumps(row), flush=True)

    return emit


def _print_dead_letter(
    kind: str, source: str, reason: str, payload: bytes, ts: datetime, /
) -> None:
    print(f"source {source}: bad input ({kind}): {reason} [{len(payload)} bytes]", file=sys.stderr)


async def probe(config: SiteConfig, seconds: float) -> list[str]:
    """Probe every source at once; return the ids of those that failed."""
    clock = WallClock()
    clients: dict[str, SourceClient] = {}
    for source in config.sources:
        clients[source.id] = make_client(
            source,
            site.bindings(config, source.id),
            _print_sample(source.id),
            clock,
            dead_letters=_print_dead_letter,
        )
    results = await asyncio.gather(
        *(_connect(sid, c) for sid, c in clients.items()), return_exceptions=False
    )
    failed = [sid for sid, ok in zip(clients, results, strict=True) if not ok]
    if len(failed) < len(clients):
        await asyncio.sleep(seconds)
    for client in clients.values():
        await client.close()
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    print(
        f"{stamp} probe: {len(clients) - len(failed)}/{len(clients)} source(s) connected",
        file=sys.stderr,
    )
    return failed


async def _connect(source_id: str, client: SourceClient) -> bool:
    try:
        await client.connect()
    except ConnectorAuthFailed as err:
        print(f"source {source_id}: AUTH FAILED: {err}", file=sys.stderr)
    except UnknownPoint as err:
        print(f"source {source_id}: UNKNOWN NODE: {err}", file=sys.stderr)
    except ConnectorNotReady as err:
        print(f"source {source_id}: UNREACHABLE: {err}", file=sys.stderr)
    except ConnectorError as err:
        print(f"source {source_id}: ERROR: {err}", file=sys.stderr)
    else:
        return True
    return False

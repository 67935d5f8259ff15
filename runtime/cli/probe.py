"""``gridaios probe CONFIG [--seconds N]``: connect to every source, print decoded samples.

The integrator's first tool on site. Each sample is one JSON line on stdout
(``source``, ``point``, ``value``, ``unit``, ``quality``, ``ts``); each problem (unreachable,
auth failed, unknown nodes, bad input) is one clear line on stderr naming the source, and
every bad point is listed: nodes that do not exist, nodes that cannot be their point (an
integer status word as kW, a unit mismatch), and write targets (setpoints, key nodes)
that are missing, not writable or not numeric, checked on the server without writing.
Only the config's sources and assets are read (a monitoring-only site needs no policy).
MQTT sessions are the probe's own (client id ``<site's>-probe-<pid>``, clean session, no
status or will), so a probe beside a live site never disturbs it.
Exit 0 if every source connected and every point is good, 1 otherwise, 2 if the config
is invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from connectors import (
    ConnectorAuthFailed,
    ConnectorError,
    ConnectorNotReady,
    Sample,
    UnknownPoint,
    WriteTarget,
)
from runtime.config import site
from runtime.config.devices import load_devices
from runtime.config.model import SiteConfig
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
        config = load_devices(args.config)
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
            observe_only=True,
        )
    results = await asyncio.gather(
        *(_connect(sid, c) for sid, c in clients.items()), return_exceptions=False
    )
    failed = [sid for sid, ok in zip(clients, results, strict=True) if not ok]
    bad_points = 0
    for sid, client in clients.items():
        if sid not in failed:
            bad_points += await _check_points(config, sid, client)
    if len(failed) < len(clients):
        await asyncio.sleep(seconds)
    for client in clients.values():
        await client.close()
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    print(
        f"{stamp} probe: {len(clients) - len(failed)}/{len(clients)} source(s) connected, "
        f"{bad_points} bad point(s)",
        file=sys.stderr,
    )
    return failed + (["(bad points)"] if bad_points else [])


WRITE_ROLES = ("p_setpoint_kw", "curtail_pct")
KEY_ROLES = ("cmd_key",)


async def _check_points(config: SiteConfig, source_id: str, client: SourceClient) -> int:
    """Every bad point of one connected source on stderr; how many there are."""
    from connectors.opcua import OpcUaClient  # loads asyncua

    if not isinstance(client, OpcUaClient):
        return 0  # MQTT: points are known only once the device publishes them
    bad = 0
    for point_id, reason in sorted(client.refused.items()):
        print(f"source {source_id}: BAD POINT {point_id}: {reason}", file=sys.stderr)
        bad += 1
    for asset in config.assets:
        for role, point in asset.points.items():
            if point.source != source_id or role not in (*WRITE_ROLES, *KEY_ROLES):
                continue
            target = WriteTarget(
                value_node=point.node,
                data_type=point.data_type,
                scale=point.scale,
                offset=point.offset,
            )
            why = await client.check_write_target(target, numeric=role in WRITE_ROLES)
            if why is not None:
                print(
                    f"source {source_id}: BAD WRITE TARGET {asset.id}.{role}: {why}",
                    file=sys.stderr,
                )
                bad += 1
    return bad


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

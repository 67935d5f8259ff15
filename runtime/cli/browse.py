"""``gridaios browse ENDPOINT [PATH]``: an OPC UA server's address space, for mapping points.

Prints, from PATH (a browse path such as ``/Objects/2:Field``, or a node id; default
``/Objects``) down ``--depth`` levels, one line per node: node id, browse path, class, and
for variables the data type, access (r/w), engineering unit and current value; ``--json``
gives JSON lines. The node id or the browse path goes into a point's ``node`` as it is.
Security as for a source: ``--config SITE --source ID`` reuses a configured source's
(certificates, user); without it the endpoint is opened without security.
Exit 0, 1 when the server cannot be reached or PATH does not exist, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from connectors import ConnectorError
from connectors.opcua import OpcUaSourceConfig
from runtime.config.devices import load_devices
from runtime.core.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser("browse", help="list an OPC UA server's nodes: ids, types, access, units")
    p.add_argument("endpoint", help="opc.tcp://host:port/path (or the source's, with --source)")
    p.add_argument("path", nargs="?", default="/Objects", help="browse path or node id")
    p.add_argument("--depth", type=int, default=3, help="levels below PATH (default 3)")
    p.add_argument("--json", action="store_true", help="JSON lines")
    p.add_argument("--config", default=None, help="site config whose source's security to use")
    p.add_argument("--source", default=None, help="that source's id (with --config)")
    p.set_defaults(func=run)


def _source(args: argparse.Namespace) -> OpcUaSourceConfig:
    if args.config is None:
        return OpcUaSourceConfig(id="browse", endpoint=args.endpoint, allow_insecure=True)
    config = load_devices(args.config)
    wanted = [s for s in config.sources if isinstance(s, OpcUaSourceConfig)]
    if args.source is not None:
        wanted = [s for s in wanted if s.id == args.source]
    if not wanted:
        raise ValueError(f"{args.config}: no OPC UA source {args.source or ''}".strip())
    return wanted[0].model_copy(update={"endpoint": args.endpoint})


def run(args: argparse.Namespace) -> int:
    if not str(args.endpoint).startswith("opc.tcp://"):
        print(f"browse: {args.endpoint}: an endpoint starts with opc.tcp://", file=sys.stderr)
        return 2
    try:
        source = _source(args)
    except ConfigError as err:
        for issue in err.issues:
            print(issue.render(err.file), file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"browse: {err}", file=sys.stderr)
        return 2
    return asyncio.run(_browse(source, args.path, args.depth, args.json))


async def _browse(source: OpcUaSourceConfig, path: str, depth: int, as_json: bool) -> int:
    from connectors.opcua import OpcUaClient
    from connectors.opcua.explore import walk

    client = OpcUaClient(source, [], None, lambda: datetime.now(UTC))
    try:
        await client.connect()
        nodes = await walk(client.session, path, depth)
    except ConnectorError as err:
        print(f"browse: {err}", file=sys.stderr)
        return 1
    finally:
        await client.close()
    for n in nodes:
        if as_json:
            print(json.dumps(n.as_json()))
        else:
            print(
                f"{n.node_id:<40} {n.path:<50} {n.node_class:<8} {n.data_type:<10} "
                f"{n.access:<2} {n.unit:<4} {n.value}".rstrip()
            )
    return 0

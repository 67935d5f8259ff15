"""``gridaios init DIR``: a site directory with a config skeleton, users store and OPC UA PKI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from runtime.cli.siteinit import DEFAULT_APPLICATION_URI


def register(sub: Any) -> None:
    p = sub.add_parser(
        "init",
        help="lay out a site directory: site.yaml skeleton, users.db, OPC UA client key + cert",
    )
    p.add_argument("dir", type=Path, help="the site directory, e.g. /etc/gridaios")
    p.add_argument(
        "--application-uri",
        default=DEFAULT_APPLICATION_URI,
        help=f"the OPC UA client's application URI (default {DEFAULT_APPLICATION_URI}); "
        "set the same as the sources' application_uri",
    )
    p.add_argument(
        "--hostname", default=None, help="DNS name in the certificate (default: this host)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from runtime.cli.siteinit import init_site

    try:
        report = init_site(args.dir, application_uri=args.application_uri, hostname=args.hostname)
    except OSError as err:
        print(f"gridaios init {args.dir}: {err}; choose a directory you can write", file=sys.stderr)
        return 1
    for path in report.created:
        print(f"created {path}")
    for path in report.kept:
        print(f"kept    {path} (exists; not overwritten)")
    pki = args.dir / "pki"
    print(
        f"next: edit {args.dir / 'site.yaml'} (site id, sources' endpoints). For SignAndEncrypt "
        f"set on each OPC UA source: certificate: {pki / 'client-cert.der'}, private_key: "
        f"{pki / 'client-key.pem'}, trust_dir: {pki / 'trusted'}, application_uri: "
        f"{args.application_uri}; copy each server's certificate into {pki / 'trusted'} and "
        f"this client's certificate into the server's trust list."
    )
    return 0

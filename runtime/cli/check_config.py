"""``gridaios check-config FILE``: validate a site config, print a summary or every error."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

from runtime.config import load_config
from runtime.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser("check-config", help="validate a site config (exit 2 on errors)")
    p.add_argument("file", help="site config YAML, e.g. configs/demo-feeder.yaml")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as err:
        for issue in err.issues:
            print(issue.render(err.file), file=sys.stderr)
        print(f"{err.file}: {len(err.issues)} error(s); nothing was started", file=sys.stderr)
        return 2
    kinds = Counter(a.type for a in config.assets)
    points = sum(len(a.points) for a in config.assets)
    writable = sum(1 for a in config.assets for p in a.points.values() if p.writable)
    a = config.approvals
    print(f"{args.file}: OK")
    print(f"  site        {config.site.id} ({config.site.name})")
    print(
        f"  assets      {len(config.assets)}: "
        + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    )
    print(f"  points      {points} ({writable} writable) on {len(config.sources)} source(s)")
    print(
        f"  feeder      meter {config.feeder.meter}, "
        f"transformer {config.feeder.transformer_rating_kw:g} kW"
    )
    ps = config.policy.peak_shaving
    print(f"  policy      peak shaving with {ps.battery} above {ps.threshold_kw:g} kW")
    print(
        f"  approvals   auto <= {a.auto_approve_max_kw:g} kW, two-person >= "
        f"{a.two_person_min_kw:g} kW, expiry {a.expiry_s:g} s"
    )
    return 0

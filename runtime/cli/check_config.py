"""``gridaios check-config FILE``: validate a site config, print a summary or every error."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from runtime.config.model import (
    BatteryAsset,
    ControllerConfig,
    SiteConfig,
    is_controller_config,
    load_config,
    load_controller_config,
)
from runtime.core.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser("check-config", help="validate a site config (exit 2 on errors)")
    p.add_argument("file", help="site config YAML, e.g. configs/demo-feeder.yaml")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        if _is_controller(args.file):
            return _controller_summary(args.file, load_controller_config(args.file))
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
    for line in device_lines(config):
        print(line)
    print(
        f"  approvals   auto <= {a.auto_approve_max_kw:g} kW, two-person >= "
        f"{a.two_person_min_kw:g} kW, expiry {a.expiry_s:g} s"
    )
    return 0


def device_lines(config: SiteConfig) -> list[str]:
    """How each battery is controlled, how fresh each source's values are, and what the
    gate does with a proposal above a limit: the defaults an integrator must know."""
    out: list[str] = []
    for asset in config.assets:
        if not isinstance(asset, BatteryAsset):
            continue
        setpoint = asset.points["p_setpoint_kw"]
        if "cmd_key" in asset.points:
            how = "key protocol (cmd_key, cmd_key_applied), confirmed by the applied key"
        elif config.source(setpoint.source).type == "mqtt":
            how = "wire command with key, confirmed by ack and setpoint read-back"
        else:
            typed = setpoint.data_type or "the node's own DataType"
            how = f"standard setpoint in {typed}, confirmed by read-back"
        out.append(f"  control     {asset.id}: {how}")
    for source in config.sources:
        freshness = getattr(source, "freshness", "device_time")
        if freshness == "link":
            why = "current while the subscription delivers or keeps alive"
        else:
            why = "as old as the device's timestamps (report-on-change values age)"
        out.append(f"  freshness   {source.id}: {freshness}: {why}")
    limit = config.safety.policies.get("limit.max", config.safety.policies.get("limit"))
    if limit is None:
        out.append(
            "  limits      above an asset's limit: reject (default); set "
            "safety.policies.limit.max: clamp to dispatch at the limit instead"
        )
    else:
        out.append(f"  limits      above an asset's limit: {limit}")
    return out


def _is_controller(file: str) -> bool:
    try:
        return is_controller_config(Path(file).read_text(encoding="utf-8"))
    except OSError:
        return False  # load_config reports the unreadable file


def _controller_summary(file: str, config: ControllerConfig) -> int:
    h = config.hierarchy
    print(f"{file}: OK")
    print(f"  controller  {h.id} (role controller)")
    print(f"  broker      {h.broker.host}:{h.broker.port} ({'TLS' if h.broker.tls else 'plain'})")
    print(f"  sites       {len(h.sites)}: {', '.join(h.sites)}")
    print(
        f"  feeder cap  {h.feeder_cap_kw:g} kW, allocated every {h.cadence_s:g} s, "
        f"caps valid {h.cap_valid_s:g} s"
    )
    pushed = {s: h.site_policies.get(s, h.policy) for s in h.sites}
    for site, push in pushed.items():
        if push is not None:
            models = ", ".join(f"{k}={v}" for k, v in sorted(push.models.items())) or "none"
            print(f"  push        {site}: policy {push.policy}, models {models}")
    return 0

"""What ``gridaios ask`` and ``POST /api/ask`` share: the read-back's confirmation code,
the typed intent it becomes, and the assumed state a preview gates against."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from runtime.config import site
from runtime.config.model import BatteryAsset, SiteConfig
from safety import Quality, Reading, StateSnapshot


def assumed_state(config: SiteConfig, now: datetime) -> StateSnapshot:
    """Initial values from the config, marked good at ``now``: not live telemetry."""
    readings: dict[str, Reading] = {}
    for asset in config.assets:
        for role in asset.points:
            value = 0.0
            if role == "soc_pct" and isinstance(asset, BatteryAsset):
                value = asset.initial_soc_pct
            elif role != "p_kw":
                continue
            point = site.point_id(asset.id, role)
            readings[point] = Reading(point=point, value=value, ts=now, quality=Quality.GOOD)
    return StateSnapshot(readings=readings)


def confirm_code(u: Any) -> str:
    """A short code of what the read-back says.

    Stable for the same request while it means the same thing: a clock-time end is
    bound as the instant it resolved to, so 'until 19:00' read back at 18:55 (five
    minutes) does not confirm the same words proposed at 19:01 (19:00 tomorrow, a
    24 h command). A duration ('for 45 minutes') and the default stay relative.
    """
    said = f"{u.action}|{u.asset}|{u.value:g}|{u.unit}|{u.end_said}"
    if u.end_said and not u.end_said.startswith("for ") and u.end is not None:
        said += f"|{u.end.astimezone(ZoneInfo('UTC')):%Y-%m-%dT%H:%M}"
    return hashlib.sha256(said.encode()).hexdigest()[:6]


def intent_of(u: Any, zone: ZoneInfo) -> dict[str, Any]:
    """The typed intent the operator-intent agent takes (``forecasting.intent.Intent``'s fields)."""
    if not u.is_command:
        return {"action": "unknown", "asset": "", "value": 0.0, "until": ""}
    action = u.action
    if action in ("standby", "release"):
        action = "curtail" if u.unit == "%" else "stop"
    until = f"{u.end.astimezone(zone):%H:%M}" if u.end_said else ""
    return {"action": action, "asset": u.asset, "value": u.value, "until": until}

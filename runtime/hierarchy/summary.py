"""A site's summary for the controller: a pure function of the snapshot and the link."""

from __future__ import annotations

from datetime import datetime, timedelta

from runtime.config.model import SiteConfig
from runtime.config.site import point_id
from runtime.hierarchy.follow import Link, PolicyInUse
from runtime.hierarchy.wire import SiteSummary
from safety import Quality, Reading, StateSnapshot


def _usable(reading: Reading | None, now: datetime, max_age: timedelta) -> bool:
    return reading is not None and reading.quality is Quality.GOOD and now - reading.ts <= max_age


def summarize(
    config: SiteConfig,
    snapshot: StateSnapshot,
    *,
    site: str,
    link: Link,
    threshold_kw: float,
    in_use: PolicyInUse,
    seq: int,
    now: datetime,
) -> SiteSummary:
    """Demand, flexibility (the policy's battery: its discharge rating while its SoC is
    above the minimum and its readings are good and fresh), health and versions."""
    battery = config.battery(config.policy.peak_shaving.battery)
    max_age = timedelta(seconds=config.safety.max_age_s)
    meter = snapshot.get(point_id(config.feeder.meter, "p_kw"))
    p_kw = snapshot.get(point_id(battery.id, "p_kw"))
    soc = snapshot.get(point_id(battery.id, "soc_pct"))
    healthy = all(_usable(r, now, max_age) for r in (meter, p_kw, soc))
    net_kw = meter.value if meter is not None else 0.0
    discharge_kw = p_kw.value if p_kw is not None else 0.0
    flexible = healthy and soc is not None and soc.value > battery.soc_min_pct
    return SiteSummary(
        site=site,
        ts=now,
        seq=seq,
        load_kw=round(net_kw + discharge_kw, 1),
        net_kw=round(net_kw, 1),
        flexible_kw=battery.max_discharge_kw if flexible else 0.0,
        soc_pct=soc.value if soc is not None else None,
        health="ok" if healthy else "degraded",
        mode=link.mode.value,
        cap_kw=link.cap.cap_kw if link.cap is not None else None,
        threshold_kw=threshold_kw,
        policy=in_use.policy,
        models=in_use.models,
    )

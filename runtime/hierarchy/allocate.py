"""Share a feeder-level import cap among sites: a pure, deterministic function.

The rule (docs/hierarchy.md):

1. A site counts only if its summary is fresh (``|now - ts| <= max_age``) and its
   conductor is not known to be gone (``gone``: it said ``offline``). A stale
   site gets no cap (it falls back to its own config when its last cap expires);
   its last known demand (``load_kw``, if positive) is reserved out of the feeder
   cap, so the fresh sites do not spend what it may still be drawing.
2. ``R = sum(load_kw of fresh sites) - (feeder_cap_kw - reserved)`` is the
   reduction the feeder needs. ``load_kw`` is demand without storage, so the
   allocation does not chase the sites' own dispatch.
3. ``R > 0``: each site gives a share proportional to its flexibility
   (``flexible_kw``; a site with ``health != "ok"`` counts 0):
   ``cap = load_kw - R * flexible_kw / F``. When ``R > F`` every site gives all
   it has (``cap = load_kw - flexible_kw``) and the plan is marked infeasible.
4. ``R <= 0``: the headroom ``-R`` is shared equally: ``cap = load_kw - R / n``.

Caps are rounded to 0.1 kW; sites are taken in sorted order. The same inputs
always give the same caps.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from runtime.hierarchy.wire import SiteSummary

DEFAULT_MAX_AGE = timedelta(minutes=3)


@dataclass(frozen=True, slots=True, kw_only=True)
class Allocation:
    caps: dict[str, float]
    feeder_cap_kw: float
    load_kw: float  # fresh sites' demand without storage
    reserved_kw: float  # held back for stale sites
    reduction_kw: float  # what the fresh sites must shed (<= 0: headroom)
    flexible_kw: float
    infeasible: bool
    stale: list[str] = field(default_factory=list)


def allocate(
    summaries: Mapping[str, SiteSummary],
    feeder_cap_kw: float,
    now: datetime,
    *,
    max_age: timedelta = DEFAULT_MAX_AGE,
    gone: Collection[str] = (),
) -> dict[str, float]:
    """``{site: cap_kw}`` for every site with a fresh summary (the rule above)."""
    return plan(summaries, feeder_cap_kw, now, max_age=max_age, gone=gone).caps


def plan(
    summaries: Mapping[str, SiteSummary],
    feeder_cap_kw: float,
    now: datetime,
    *,
    max_age: timedelta = DEFAULT_MAX_AGE,
    gone: Collection[str] = (),
) -> Allocation:
    """``allocate`` with the figures behind it (for the controller's event log)."""
    fresh: dict[str, SiteSummary] = {}
    stale: list[str] = []
    for site in sorted(summaries):
        summary = summaries[site]
        if site not in gone and abs(now - summary.ts) <= max_age:
            fresh[site] = summary
        else:
            stale.append(site)
    reserved_kw = sum(max(summaries[s].load_kw, 0.0) for s in stale)
    load_kw = sum(s.load_kw for s in fresh.values())
    flex = {site: s.flexible_kw if s.health == "ok" else 0.0 for site, s in fresh.items()}
    total_flex_kw = sum(flex.values())
    reduction_kw = load_kw - (feeder_cap_kw - reserved_kw)
    caps: dict[str, float] = {}
    infeasible = False
    for site, summary in fresh.items():
        if reduction_kw > 0:
            if reduction_kw >= total_flex_kw:
                infeasible = reduction_kw > total_flex_kw
                shed_kw = flex[site]
            else:
                shed_kw = reduction_kw * flex[site] / total_flex_kw
            caps[site] = round(summary.load_kw - shed_kw, 1)
        else:
            caps[site] = round(summary.load_kw - reduction_kw / len(fresh), 1)
    return Allocation(
        caps=caps,
        feeder_cap_kw=feeder_cap_kw,
        load_kw=round(load_kw, 1),
        reserved_kw=round(reserved_kw, 1),
        reduction_kw=round(reduction_kw, 1),
        flexible_kw=round(total_flex_kw, 1),
        infeasible=infeasible and bool(fresh),
        stale=stale,
    )

"""A compiled, per-asset view of the envelope: what the gate reads for every command, built once.

The envelope is immutable data; the gate needs it in a shape that is cheap to
read per command (the points an asset's checks read, with their maximum ages;
its min/max bounds per kind; its ramp steps). Building that shape per call
dominated a one-command evaluation, so it is built on first use and memoised
in the envelope's own ``derived`` dict: a different envelope (or one made with
``dataclasses.replace``) has its own memo, so a view can never answer for
another envelope. Within one envelope each view remembers the ``AssetLimits``
object it was built from and is rebuilt if the envelope's mapping now holds a
different one, so even replacing an asset in place cannot leave a stale view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from safety.bounds import Bound, RampStep, ramp_step, range_bounds
from safety.envelope import AssetLimits, Envelope
from safety.freshness import points_needed
from safety.types import CommandKind

_KEY = "safety.view"


@dataclass(frozen=True, slots=True)
class AssetView:
    asset: str
    limits: AssetLimits
    # Points the asset's checks read (without a forecast), each with its maximum age.
    points: tuple[tuple[str, timedelta], ...]
    range_bounds: dict[CommandKind, list[Bound]]
    ranges: dict[CommandKind, tuple[float, float]]  # (min, max): the same limits, as numbers
    ramps: dict[CommandKind, RampStep]


def asset_view(envelope: Envelope, asset: str, limits: AssetLimits) -> AssetView:
    """The view of ``asset`` (whose limits are ``limits``, read from ``envelope``)."""
    views = cast("dict[str, AssetView] | None", envelope.derived.get(_KEY))
    if views is None:
        views = {}
        envelope.derived[_KEY] = views
    found = views.get(asset)
    if found is None or found.limits is not limits:  # identity: a replaced asset rebuilds
        found = views[asset] = _build(envelope, asset, limits)
    return found


def _build(envelope: Envelope, asset: str, limits: AssetLimits) -> AssetView:
    points = tuple((p, envelope.max_age_of(p)) for p in points_needed(limits, envelope))
    ramps = {kind: ramp_step(ramp, limits, kind) for kind, ramp in limits.ramps.items()}
    return AssetView(
        asset=asset,
        limits=limits,
        points=points,
        range_bounds={kind: range_bounds(asset, kind, rng) for kind, rng in limits.ranges.items()},
        ranges={kind: (rng.min_value, rng.max_value) for kind, rng in limits.ranges.items()},
        ramps=ramps,
    )


def max_ages(envelope: Envelope, points: tuple[str, ...]) -> tuple[tuple[str, timedelta], ...]:
    return tuple((p, envelope.max_age_of(p)) for p in points)

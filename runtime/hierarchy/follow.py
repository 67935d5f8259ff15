"""A conductor following the controller: pure decisions on caps, heartbeats and pushes.

The site obeys a cap only while the controller is heard (heartbeat newer than the
timeout, not offline) and the cap is fresh; otherwise it is on its own config.
A cap can only lower the site's peak-shaving threshold (make it more conservative),
never raise it above the local config; ``floor_kw`` bounds how low it may go.
The safety gate still checks every command that results.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from runtime.hierarchy.wire import Cap, Heartbeat, PolicyPush

PARAMS = frozenset({"threshold_kw"})  # what a policy push may set (tighten only)
FUTURE_TOLERANCE = timedelta(seconds=30)  # a cap issued further ahead of our clock is refused


class Mode(StrEnum):
    STARTING = "starting"  # no controller heard yet: local config
    COORDINATED = "coordinated"  # obeying a fresh cap
    LOCAL = "local"  # controller lost: local config


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    started_at: datetime
    mode: Mode = Mode.STARTING
    cap: Cap | None = None
    last_seq: int = -1
    heard_at: datetime | None = None  # our clock, when the last heartbeat arrived
    online: bool = False  # the controller's own word (heartbeat / last will)


@dataclass(frozen=True, slots=True)
class Lost:
    reason: str


@dataclass(frozen=True, slots=True)
class Back:
    cap_kw: float


@dataclass(frozen=True, slots=True)
class CapAccepted:
    cap: Cap


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str


def on_heartbeat(link: Link, beat: Heartbeat, controller: str, now: datetime) -> Link | Refused:
    if beat.controller != controller:
        return Refused(
            f"heartbeat from controller {beat.controller!r}; this site obeys {controller!r}"
        )
    return replace(link, heard_at=now, online=beat.state == "online")


def on_cap(
    link: Link, cap: Cap, controller: str, now: datetime
) -> tuple[Link, CapAccepted | Refused]:
    """Accept a cap only from our controller, fresh, and newer than the last one."""
    if cap.controller != controller:
        return link, Refused(
            f"cap from controller {cap.controller!r}; this site obeys {controller!r}"
        )
    if cap.valid_until <= now:
        return link, Refused(f"cap seq {cap.seq} expired at {cap.valid_until.isoformat()}")
    if cap.issued_at > now + FUTURE_TOLERANCE:
        return link, Refused(
            f"cap seq {cap.seq} issued at {cap.issued_at.isoformat()}, ahead of this site's "
            "clock; check NTP on both boxes"
        )
    if cap.seq <= link.last_seq:
        return link, Refused(f"cap seq {cap.seq} is not newer than seq {link.last_seq}")
    return replace(link, cap=cap, last_seq=cap.seq), CapAccepted(cap)


def why_not_coordinated(link: Link, timeout: timedelta, now: datetime) -> str | None:
    """None when the site may obey its cap; otherwise the reason it may not."""
    if link.heard_at is None:
        return f"no controller heartbeat since start ({timeout.total_seconds():g} s timeout)"
    if not link.online:
        return "the controller went offline (last will or shutdown)"
    silent = now - link.heard_at
    if silent > timeout:
        return (
            f"no controller heartbeat for {silent.total_seconds():.1f} s "
            f"(timeout {timeout.total_seconds():g} s)"
        )
    if link.cap is None:
        return "no cap received yet"
    if link.cap.valid_until <= now:
        return f"cap seq {link.cap.seq} expired at {link.cap.valid_until.isoformat()}"
    return None


def check(link: Link, timeout: timedelta, now: datetime) -> tuple[Link, Lost | Back | None]:
    """Move between modes; a transition is returned once, for the shell to announce.

    A loss also drops the cap in hand: coming back takes a heartbeat and a new cap.
    """
    reason = why_not_coordinated(link, timeout, now)
    if reason is None:
        if link.mode is Mode.COORDINATED:
            return link, None
        assert link.cap is not None
        return replace(link, mode=Mode.COORDINATED), Back(link.cap.cap_kw)
    if link.mode is Mode.COORDINATED:
        # The cap goes too: after a loss only a cap issued afterwards is obeyed.
        return replace(link, mode=Mode.LOCAL, cap=None), Lost(reason)
    if link.mode is Mode.STARTING and now - link.started_at >= timeout:
        return replace(link, mode=Mode.LOCAL), Lost(reason)
    return link, None


def threshold_kw(link: Link, local_kw: float, floor_kw: float) -> float:
    """The peak-shaving threshold to use: the local one, lowered (never raised) by a cap."""
    if link.mode is not Mode.COORDINATED or link.cap is None:
        return local_kw
    return min(local_kw, max(link.cap.cap_kw, floor_kw))


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyInUse:
    policy: str
    threshold_kw: float | None = None  # from a push; None: the local config's
    models: dict[str, str] = field(default_factory=dict)


def on_policy(
    push: PolicyPush,
    *,
    known_policies: list[str],
    known_models: dict[str, list[str]],
    local_threshold_kw: float,
) -> PolicyInUse | Refused:
    """Accept a push only for versions this site's config knows; params only tighten."""
    if push.policy not in known_policies:
        return Refused(
            f"policy {push.policy!r} is not known to this site's config "
            f"(hierarchy.known_policies: {', '.join(known_policies)})"
        )
    unknown_params = sorted(set(push.params) - PARAMS)
    if unknown_params:
        return Refused(
            f"params {', '.join(unknown_params)} cannot be pushed; "
            f"allowed: {', '.join(sorted(PARAMS))}"
        )
    for name, version in sorted(push.models.items()):
        if version not in known_models.get(name, []):
            known = ", ".join(known_models.get(name, [])) or "none"
            return Refused(
                f"model {name} version {version!r} is not known to this site's config "
                f"(hierarchy.known_models.{name}: {known})"
            )
    pushed = push.params.get("threshold_kw")
    if pushed is not None and pushed <= 0:
        return Refused(f"params.threshold_kw = {pushed:g}: must be > 0")
    if pushed is not None and pushed > local_threshold_kw:
        return Refused(
            f"params.threshold_kw = {pushed:g} would loosen the site's own "
            f"{local_threshold_kw:g} kW; a push may only tighten it"
        )
    return PolicyInUse(policy=push.policy, threshold_kw=pushed, models=dict(push.models))

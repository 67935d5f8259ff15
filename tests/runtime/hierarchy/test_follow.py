"""A conductor following its controller, cycle by cycle on a fixed clock (pure core)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runtime.hierarchy import follow
from runtime.hierarchy.follow import Back, Link, Lost, Mode, Refused
from runtime.hierarchy.wire import Cap, Heartbeat, PolicyPush, decode

T0 = datetime(2026, 7, 15, 18, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=30)


def cap(seq: int, cap_kw: float = 900, *, valid_s: float = 180, at: datetime = T0) -> Cap:
    return Cap(
        cap_kw=cap_kw,
        valid_until=at + timedelta(seconds=valid_s),
        issued_at=at,
        seq=seq,
        controller="controller",
    )


def beat(state: str = "online", controller: str = "controller") -> Heartbeat:
    return Heartbeat(controller=controller, state=state, seq=1, ts=T0)


def coordinated(at: datetime = T0) -> Link:
    link = follow.on_heartbeat(Link(started_at=at), beat(), "controller", at)
    assert isinstance(link, Link)
    link, verdict = follow.on_cap(link, cap(10, at=at), "controller", at)
    assert isinstance(verdict, follow.CapAccepted)
    link, change = follow.check(link, TIMEOUT, at)
    assert change == Back(900)
    return link


def test_a_fresh_cap_from_a_live_controller_lowers_the_threshold_and_says_so_once() -> None:
    link = coordinated()
    assert link.mode is Mode.COORDINATED
    assert follow.threshold_kw(link, 1100, floor_kw=0) == 900
    assert follow.check(link, TIMEOUT, T0 + timedelta(seconds=5)) == (link, None)


def test_a_cap_never_raises_the_threshold_above_the_local_config() -> None:
    link = coordinated()
    link, _ = follow.on_cap(link, cap(11, 1500), "controller", T0)
    assert follow.threshold_kw(link, 1100, floor_kw=0) == 1100


def test_the_floor_bounds_how_far_a_cap_lowers_the_threshold() -> None:
    link = coordinated()
    link, _ = follow.on_cap(link, cap(11, 50), "controller", T0)
    assert follow.threshold_kw(link, 1100, floor_kw=400) == 400


@pytest.mark.parametrize(
    ("offer", "reason"),
    [
        (cap(10), "not newer than seq 10"),
        (cap(9), "not newer than seq 10"),
        (cap(11, at=T0 - timedelta(seconds=200)), "expired"),
        (cap(11, at=T0 + timedelta(minutes=5)), "ahead of this site's clock"),
        (
            Cap(
                cap_kw=1,
                valid_until=T0 + timedelta(minutes=1),
                issued_at=T0,
                seq=99,
                controller="rogue",
            ),
            "this site obeys 'controller'",
        ),
    ],
)
def test_stale_replayed_or_foreign_caps_are_refused_with_a_reason(offer: Cap, reason: str) -> None:
    link = coordinated()
    after, verdict = follow.on_cap(link, offer, "controller", T0)
    assert isinstance(verdict, Refused) and reason in verdict.reason
    assert after == link


def test_silence_beyond_the_timeout_means_local_config() -> None:
    link = coordinated()
    link, change = follow.check(link, TIMEOUT, T0 + timedelta(seconds=29))
    assert change is None and link.mode is Mode.COORDINATED
    link, change = follow.check(link, TIMEOUT, T0 + timedelta(seconds=31))
    assert isinstance(change, Lost) and "no controller heartbeat for 31.0 s" in change.reason
    assert link.mode is Mode.LOCAL
    assert follow.threshold_kw(link, 1100, floor_kw=0) == 1100


def test_the_last_will_means_local_config_at_once() -> None:
    link = coordinated()
    offline = follow.on_heartbeat(link, beat("offline"), "controller", T0 + timedelta(seconds=1))
    assert isinstance(offline, Link)
    link, change = follow.check(offline, TIMEOUT, T0 + timedelta(seconds=1))
    assert isinstance(change, Lost) and "offline" in change.reason


def test_an_expired_cap_means_local_config_even_with_heartbeats() -> None:
    link = coordinated()
    later = T0 + timedelta(seconds=181)
    alive = follow.on_heartbeat(link, beat(), "controller", later)
    assert isinstance(alive, Link)
    link, change = follow.check(alive, TIMEOUT, later)
    assert isinstance(change, Lost) and "expired" in change.reason


def test_back_when_heard_again_with_a_fresh_cap() -> None:
    link = coordinated()
    link, _ = follow.check(link, TIMEOUT, T0 + timedelta(minutes=1))
    assert link.mode is Mode.LOCAL
    later = T0 + timedelta(minutes=2)
    alive = follow.on_heartbeat(link, beat(), "controller", later)
    assert isinstance(alive, Link)
    assert follow.check(alive, TIMEOUT, later) == (alive, None)  # heard, but no fresh cap yet
    fresh, _ = follow.on_cap(alive, cap(11, 950, at=later), "controller", later)
    fresh, change = follow.check(fresh, TIMEOUT, later)
    assert change == Back(950) and fresh.mode is Mode.COORDINATED


def test_a_site_that_never_hears_a_controller_says_so_after_the_timeout() -> None:
    link = Link(started_at=T0)
    assert follow.check(link, TIMEOUT, T0 + timedelta(seconds=10)) == (link, None)
    link, change = follow.check(link, TIMEOUT, T0 + timedelta(seconds=30))
    assert isinstance(change, Lost) and "since start" in change.reason
    assert follow.check(link, TIMEOUT, T0 + timedelta(seconds=60)) == (link, None)


def test_heartbeats_of_another_controller_are_refused() -> None:
    out = follow.on_heartbeat(Link(started_at=T0), beat(controller="other"), "controller", T0)
    assert isinstance(out, Refused)


KNOWN = {
    "known_policies": ["peak_shaving", "peak_shaving-2"],
    "known_models": {"forecast": ["persistence", "ets-7"]},
}


@pytest.mark.parametrize(
    ("push", "reason"),
    [
        (PolicyPush(policy="deep_rl"), "policy 'deep_rl' is not known"),
        (PolicyPush(policy="peak_shaving", models={"forecast": "lstm-1"}), "version 'lstm-1'"),
        (PolicyPush(policy="peak_shaving", models={"anomaly": "x"}), "known_models.anomaly: none"),
        (PolicyPush(policy="peak_shaving", params={"deadband_kw": 1}), "deadband_kw cannot"),
        (PolicyPush(policy="peak_shaving", params={"threshold_kw": 1200}), "loosen"),
        (PolicyPush(policy="peak_shaving", params={"threshold_kw": 0}), "must be > 0"),
    ],
)
def test_unknown_versions_and_loosening_params_are_refused(push: PolicyPush, reason: str) -> None:
    out = follow.on_policy(push, local_threshold_kw=1100, **KNOWN)  # type: ignore[arg-type]
    assert isinstance(out, Refused) and reason in out.reason


def test_a_known_push_is_taken_as_is() -> None:
    push = PolicyPush(
        policy="peak_shaving-2", params={"threshold_kw": 1000}, models={"forecast": "ets-7"}
    )
    out = follow.on_policy(push, local_threshold_kw=1100, **KNOWN)  # type: ignore[arg-type]
    assert out == follow.PolicyInUse(
        policy="peak_shaving-2", threshold_kw=1000, models={"forecast": "ets-7"}
    )


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"v": 2, "cap_kw": 1, "valid_until": "2026-07-15T18:00:00Z", '
        b'"issued_at": "2026-07-15T18:00:00Z", "seq": 1, "controller": "c"}',
        b'{"v": 1, "cap_kw": "NaN", "valid_until": "2026-07-15T18:00:00Z", '
        b'"issued_at": "2026-07-15T18:00:00Z", "seq": 1, "controller": "c"}',
        b'{"v": 1, "cap_kw": 1, "valid_until": "2026-07-15T18:00:00", '
        b'"issued_at": "2026-07-15T18:00:00Z", "seq": 1, "controller": "c"}',
        b'{"v": 1, "cap_kw": 1, "valid_until": "2026-07-15T18:00:00Z", '
        b'"issued_at": "2026-07-15T18:00:00Z", "seq": 1, "controller": "c", "extra": 1}',
    ],
    ids=["not json", "v2", "nan", "naive time", "unknown key"],
)
def test_malformed_caps_decode_to_a_reason(payload: bytes) -> None:
    out = decode(Cap, payload)
    assert isinstance(out, str) and out.startswith("Cap v1: ")

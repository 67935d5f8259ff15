"""allocate(): the feeder cap shared by flexibility, table by table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runtime.hierarchy import SiteSummary, allocate, plan

NOW = datetime(2026, 7, 15, 18, 0, tzinfo=UTC)


def s(
    site: str,
    load_kw: float,
    flexible_kw: float,
    *,
    age_s: float = 0,
    health: str = "ok",
) -> SiteSummary:
    return SiteSummary(
        site=site,
        ts=NOW - timedelta(seconds=age_s),
        seq=1,
        load_kw=load_kw,
        net_kw=load_kw,
        flexible_kw=flexible_kw,
        soc_pct=80.0,
        health=health,
        mode="coordinated",
        threshold_kw=1100,
        policy="peak_shaving",
    )


CASES = [
    pytest.param(
        [s("a", 1200, 250), s("b", 1000, 250)],
        2000,
        {"a": 1100.0, "b": 900.0},
        id="over the cap: equal flexibility sheds equally",
    ),
    pytest.param(
        [s("a", 1200, 300), s("b", 1000, 100)],
        2000,
        {"a": 1050.0, "b": 950.0},
        id="over the cap: shares proportional to flexibility",
    ),
    pytest.param(
        [s("a", 800, 250), s("b", 600, 0)],
        1800,
        {"a": 1000.0, "b": 800.0},
        id="under the cap: headroom shared equally",
    ),
    pytest.param(
        [s("a", 1200, 100), s("b", 1000, 50)],
        2000,
        {"a": 1100.0, "b": 950.0},
        id="infeasible: every site gives all it has",
    ),
    pytest.param(
        [s("a", 1200, 250), s("b", 1000, 250, health="degraded")],
        2000,
        {"a": 1000.0, "b": 1000.0},
        id="a degraded site is not relied on",
    ),
    pytest.param(
        [s("a", 1500, 250), s("b", 700, 250, age_s=600)],
        2000,
        {"a": 1300.0},
        id="a stale site gets no cap; its last load is reserved",
    ),
    pytest.param(
        [s("a", 1000, 250), s("b", 1000, 250)],
        2000,
        {"a": 1000.0, "b": 1000.0},
        id="exactly at the cap: caps equal loads",
    ),
    pytest.param([], 2000, {}, id="no site reporting: no caps"),
]


@pytest.mark.parametrize(("summaries", "cap_kw", "expected"), CASES)
def test_allocate(summaries: list[SiteSummary], cap_kw: float, expected: dict[str, float]) -> None:
    assert allocate({x.site: x for x in summaries}, cap_kw, NOW) == expected


def test_caps_of_fresh_sites_add_up_to_what_is_left_of_the_feeder_cap() -> None:
    summaries = {x.site: x for x in [s("a", 1234.5, 180), s("b", 987.6, 95), s("c", 400, 20)]}
    caps = allocate(summaries, 2400, NOW)
    assert sum(caps.values()) == pytest.approx(2400, abs=0.2)
    assert all(caps[k] <= summaries[k].load_kw for k in caps)


def test_same_inputs_same_caps_whatever_the_order() -> None:
    one = [s("a", 1200, 300), s("b", 1000, 100), s("c", 500, 70)]
    forward = allocate({x.site: x for x in one}, 2000, NOW)
    backward = allocate({x.site: x for x in reversed(one)}, 2000, NOW)
    assert forward == backward
    assert list(forward) == ["a", "b", "c"]


def test_plan_reports_the_figures_behind_the_caps() -> None:
    p = plan({x.site: x for x in [s("a", 1200, 100), s("b", 1000, 50)]}, 2000, NOW)
    assert (p.load_kw, p.reduction_kw, p.flexible_kw, p.infeasible) == (2200, 200, 150, True)
    p = plan({x.site: x for x in [s("a", 1200, 250), s("b", 700, 250, age_s=600)]}, 2000, NOW)
    assert (p.reserved_kw, p.stale) == (700, ["b"])


def test_a_summary_older_than_max_age_is_stale() -> None:
    summaries = {"a": s("a", 900, 100, age_s=61)}
    assert allocate(summaries, 1000, NOW, max_age=timedelta(seconds=60)) == {}
    assert allocate(summaries, 1000, NOW, max_age=timedelta(seconds=62)) == {"a": 1000.0}


def test_a_site_whose_conductor_said_offline_is_stale_whatever_its_age() -> None:
    summaries = {x.site: x for x in [s("a", 1500, 250), s("b", 700, 250)]}
    assert allocate(summaries, 2000, NOW, gone={"b"}) == {"a": 1300.0}

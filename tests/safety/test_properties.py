"""Properties of the gate, checked with hypothesis over random sites, states and plans.

- no ApprovedCommand violates an active constraint (checked by an independent model);
- stale, missing or bad-quality state never yields accepted (or clamped);
- clamping never moves a value further outside a limit;
- evaluation is order-independent and bit-identical;
- the gate's quick test of the common case agrees with its full weighing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safety import (
    Accepted,
    Bus,
    Clamped,
    Command,
    Dispatch,
    Envelope,
    Forecast,
    Interlock,
    Quality,
    Ramp,
    Range,
    RateLimit,
    Reading,
    StateSnapshot,
    Verdict,
    evaluate,
    gate,
)
from tests.safety.harness import KW, PCT, T0, battery, cmd, load, pv, site, snapshot

TOL = 1e-6
ASSETS = ("bat1", "bat2", "pv1", "load1")
FAMILIES = ("limit", "ramp", "soc", "thermal", "voltage")
PERCENT = st.floats(0.0, 100.0)
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Case:
    envelope: Envelope
    state: StateSnapshot
    plan: list[Command]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    policies = {f: draw(st.sampled_from(["clamp", "reject"])) for f in FAMILIES}
    sens = draw(st.floats(0.0, 0.0004))
    bats = []
    for name in ("bat1", "bat2"):
        max_kw = draw(st.sampled_from([100.0, 250.0]))
        ramp = draw(st.sampled_from([None, 50.0, 200.0]))
        bats.append(
            battery(
                name,
                ranges={KW: Range(min_value=-max_kw, max_value=max_kw)},
                ramps={KW: Ramp(per_min=ramp)} if ramp else {},
                voltage_pu_per_kw={"b1": sens},
                rate_limit=draw(
                    st.sampled_from([None, RateLimit(max_commands=2, window=timedelta(minutes=30))])
                ),
                interlocks=(
                    Interlock(id="m", point=f"{name}.maintenance", active_when=1.0, reason="m"),
                ),
            )
        )
    envelope = site(
        *bats,
        pv(voltage_pu_per_kw={"b1": sens}),
        load(),
        rating_kw=draw(st.sampled_from([700.0, 900.0, 1200.0])),
        buses=[Bus(id="b1", point="bus1.v_pu")],
        policies=policies,
    )
    state = snapshot(
        {
            "meter.p_kw": draw(st.floats(-800.0, 1300.0)),
            "bat1.soc_pct": draw(st.floats(5.0, 95.0)),
            "bat2.soc_pct": draw(st.floats(5.0, 95.0)),
            "bat1.p_kw": draw(st.floats(-100.0, 100.0)),
            "bat2.p_kw": draw(st.floats(-100.0, 100.0)),
            "pv1.p_kw": draw(st.floats(0.0, 400.0)),
            "load1.p_kw": draw(st.floats(0.0, 300.0)),
            "bus1.v_pu": draw(st.floats(0.93, 1.07)),
            "bat1.maintenance": draw(st.sampled_from([0.0, 1.0])),
            "bat2.maintenance": draw(st.sampled_from([0.0, 1.0])),
        }
    )
    n = draw(st.integers(1, 12))
    plan = []
    for i in range(n):
        asset = draw(st.sampled_from(ASSETS))
        kind = KW if asset.startswith("bat") else PCT
        value = draw(st.floats(-400.0, 400.0) if kind is KW else st.floats(-20.0, 120.0))
        start = T0 + timedelta(minutes=5 * draw(st.integers(0, 24)))
        minutes = 5.0 * draw(st.integers(1, 12))
        plan.append(cmd(f"k{i}", asset, kind, value, start=start, minutes=minutes))
    return Case(envelope, state, plan)


def _fingerprint(verdicts: Sequence[Verdict]) -> dict[str, str]:
    return {
        v.command.key: repr(
            (
                v.outcome,
                v.approved.value if isinstance(v, Accepted | Clamped) else None,
                v.hits,
            )
        )
        for v in verdicts
    }


@SETTINGS
@given(case=cases(), data=st.data())
def test_order_independent_and_bit_identical(case: Case, data: st.DataObject) -> None:
    first = evaluate(case.plan, case.state, case.envelope, T0)
    again = evaluate(case.plan, case.state, case.envelope, T0)
    shuffled = data.draw(st.permutations(case.plan))
    other = evaluate(shuffled, case.state, case.envelope, T0)
    assert [v.command for v in other] == list(shuffled)  # one verdict per command, in order
    assert _fingerprint(first) == _fingerprint(again) == _fingerprint(other)


@SETTINGS
@given(case=cases(), data=st.data())
def test_quick_test_agrees_with_the_full_weighing(case: Case, data: st.DataObject) -> None:
    """``_Plan._admits`` (numbers only, no reasons) must accept exactly what ``_Plan._weigh``
    accepts as is: with it switched off every command is weighed in full, and every verdict,
    value and reason must come out the same (with and without history and forecast)."""
    history = [
        Dispatch(
            asset=asset,
            kind=KW if asset.startswith("bat") else PCT,
            value=data.draw(st.floats(-150.0, 150.0) if asset.startswith("bat") else PERCENT),
            at=T0 - timedelta(minutes=data.draw(st.integers(1, 50))),
        )
        for asset in data.draw(st.lists(st.sampled_from(ASSETS), max_size=4))
    ]
    forecast = None
    if data.draw(st.booleans()):
        steps = data.draw(st.lists(st.floats(-900.0, 1500.0), min_size=1, max_size=16))
        forecast = Forecast(
            start=T0, step=timedelta(minutes=15), feeder_net_kw={"f1": tuple(steps)}
        )
    args = (case.plan, case.state, case.envelope, T0)
    quick = evaluate(*args, history=history, forecast=forecast)
    with patch.object(gate._Plan, "_admits", lambda *_: False):
        full = evaluate(*args, history=history, forecast=forecast)
    assert _fingerprint(quick) == _fingerprint(full)


@SETTINGS
@given(case=cases())
def test_no_approved_command_violates_an_active_constraint(case: Case) -> None:
    verdicts = evaluate(case.plan, case.state, case.envelope, T0)
    approved = [v for v in verdicts if isinstance(v, Accepted | Clamped)]
    env, state = case.envelope, case.state
    ordered = sorted(approved, key=lambda v: (v.command.start, v.command.asset, v.command.key))
    last: dict[str, float] = {}
    soc: dict[str, tuple[float, object]] = {}
    for v in ordered:
        c, value = v.command, v.approved.value
        limits = env.assets[c.asset]
        for lock in limits.interlocks:
            assert state.readings[lock.point].value != lock.active_when, (c, lock)
        if limits.rate_limit is not None:
            window = limits.rate_limit.window
            same = [
                o
                for o in ordered
                if o.command.asset == c.asset and c.start - window < o.command.start <= c.start
            ]
            assert len(same) <= limits.rate_limit.max_commands
        rng = limits.ranges[c.kind]
        assert rng.min_value - TOL <= value <= rng.max_value + TOL, (c, value)
        ramp = limits.ramps.get(c.kind)
        if ramp is not None:
            ref = last.get(c.asset, state.readings[f"{c.asset}.p_kw"].value)
            assert abs(value - ref) <= ramp.per_min * ramp.interval.total_seconds() / 60 + TOL
        last[c.asset] = value
        if limits.battery is not None:
            b = limits.battery
            level, at = soc.get(c.asset, (state.readings[b.soc_point].value, T0))
            held = state.readings[f"{c.asset}.p_kw"].value
            level -= 100.0 * held * (c.start - at).total_seconds() / 3600.0 / b.capacity_kwh  # type: ignore[operator]
            hours = (c.end - c.start).total_seconds() / 3600.0
            end = level - 100.0 * value * hours / b.capacity_kwh  # efficiency is 1 here
            assert min(b.soc_min_pct, level) - TOL <= end <= max(b.soc_max_pct, level) + TOL
            soc[c.asset] = (end, c.end)
    _check_network(env, state, [(v.command, v.approved.value) for v in approved])


def _check_network(
    env: Envelope, state: StateSnapshot, approved: list[tuple[Command, float]]
) -> None:
    """Independent model, instant by instant: replaying the approved commands in canonical
    order, each keeps feeder |net| and bus voltage inside the limits, or no worse than with
    its asset idle."""
    r = state.readings
    instants = sorted({c.start for c, _ in approved} | {c.end for c, _ in approved} | {T0})
    rating = env.feeders["f1"].rating_kw
    bus = env.buses["b1"]
    pv_unc, load_unc = abs(r["pv1.p_kw"].value), abs(r["load1.p_kw"].value)
    ordered = sorted(approved, key=lambda a: (a[0].start, a[0].asset, a[0].key))
    for t in instants:
        net, volt = r["meter.p_kw"].value, r["bus1.v_pu"].value
        for c, value in ordered:
            if not max(c.start, T0) <= t < c.end:
                continue
            sens = env.assets[c.asset].voltage_pu_per_kw.get("b1", 0.0)
            if c.kind is KW:
                present = r[f"{c.asset}.p_kw"].value
                net_coeff, volt_coeff = -1.0, sens
            elif c.asset == "pv1":
                present = r["pv1.curtail_pct"].value
                net_coeff, volt_coeff = pv_unc / 100.0, -sens * pv_unc / 100.0
            else:
                present = r["load1.curtail_pct"].value
                net_coeff, volt_coeff = -load_unc / 100.0, 0.0
            idle_net = net - net_coeff * present
            net = idle_net + net_coeff * value
            assert abs(net) <= max(rating, abs(idle_net)) + 1e-6, (t, c, net)
            idle_volt = volt - volt_coeff * present
            volt = idle_volt + volt_coeff * value
            assert min(bus.min_pu, idle_volt) - 1e-9 <= volt <= max(bus.max_pu, idle_volt) + 1e-9


@SETTINGS
@given(case=cases())
def test_clamping_never_moves_a_value_further_outside_a_limit(case: Case) -> None:
    for v in evaluate(case.plan, case.state, case.envelope, T0):
        if not isinstance(v, Clamped):
            continue
        rng = case.envelope.assets[v.command.asset].ranges[v.command.kind]

        def outside(x: float, rng: Range = rng) -> float:
            return max(rng.min_value - x, x - rng.max_value, 0.0)

        assert outside(v.value) <= outside(v.command.value) + TOL
        assert outside(v.value) <= TOL
        for hit in v.hits:  # the clamped value is no further from each fired limit
            if hit.limit is not None and hit.observed is not None and hit.constraint == "limit.max":
                assert v.value <= hit.limit + TOL


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[Case, str]:
    case = draw(cases())
    point = draw(
        st.sampled_from(
            ["meter.p_kw", "bat1.p_kw", "bat1.soc_pct", "bat2.p_kw", "pv1.p_kw", "bus1.v_pu"]
        )
    )
    how = draw(st.sampled_from(["stale", "missing", "bad", "uncertain", "nan"]))
    readings = dict(case.state.readings)
    old = readings[point]
    if how == "missing":
        del readings[point]
    elif how == "stale":
        readings[point] = replace(old, ts=T0 - timedelta(seconds=draw(st.integers(61, 10**6))))
    elif how == "nan":
        readings[point] = replace(old, value=float("nan"))
    else:
        readings[point] = Reading(point=point, value=old.value, ts=old.ts, quality=Quality(how))
    return Case(case.envelope, StateSnapshot(readings=readings), case.plan), point


@SETTINGS
@given(item=corrupted())
def test_stale_missing_or_bad_state_never_yields_approval(item: tuple[Case, str]) -> None:
    case, point = item
    for v in evaluate(case.plan, case.state, case.envelope, T0):
        own = point.split(".")[0] == v.command.asset
        shared = point == "meter.p_kw"  # the feeder's base load
        on_bus = point == "bus1.v_pu" and v.command.asset in ("bat1", "bat2", "pv1")
        if own or shared or on_bus:
            assert not isinstance(v, Accepted | Clamped), (point, v)
            reasons = {h.constraint.split(".")[0] for h in v.hits}
            assert reasons & {"state", "plan", "input"}, v.hits

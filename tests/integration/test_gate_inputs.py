"""The gate's history and forecast in the live conductor path, across a restart, and in replay."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runtime.audit.replay import Difference, replay
from runtime.conductor.loop import Conductor
from runtime.config import site
from runtime.config.model import SiteConfig, load_config
from runtime.config.safety_config import RateLimitConfig
from runtime.decide import gate_inputs
from runtime.ingest.historian import Historian
from runtime.log import events as ev
from runtime.log import records
from runtime.log.dispatch import Projections
from runtime.log.eventlog import Event, EventLog
from runtime.log.upcast import upcast_to
from safety import Dispatch, Quality, Reading, StateSnapshot
from tests.integration.test_skeleton import PEAK, REPO, Rig, fresh, rig, wait_for

STEP_KW = 50.0  # bat1's ramp in these tests: 50 kW per 1-min interval
MAX_COMMANDS = 3  # bat1's rate limit in these tests: 3 commands per hour


def slow_ramp(config: SiteConfig) -> SiteConfig:
    assets = []
    for asset in config.assets:
        if asset.id == "bat1":
            limits = asset.limits.model_copy(
                update={
                    "ramp_kw_per_min": STEP_KW,
                    "rate_limit": RateLimitConfig(max_commands=MAX_COMMANDS, window_s=3600),
                }
            )
            asset = asset.model_copy(update={"limits": limits})
        assets.append(asset)
    return config.model_copy(update={"assets": assets})


def gated(r: Rig, dispatch_id: str) -> Event:
    return next(
        e
        for e in r.events.events(dispatch_id=dispatch_id, kinds=("dispatch.gated",))
        if not e.payload["recheck"]
    )


async def next_cycle(r: Rig) -> str:
    """Advance a minute, wait for telemetry stamped then, run a cycle; its dispatch id."""
    r.clock.advance(timedelta(minutes=1))
    await wait_for(lambda: fresh(r, "bat1.p_kw"), "battery telemetry at the new time")
    await wait_for(lambda: fresh(r, "substation.p_kw"), "meter telemetry at the new time")
    before = len(r.conductor.dispatch_ids)
    await r.conductor.cycle(r.clock())
    assert len(r.conductor.dispatch_ids) == before + 1, "the policy proposed nothing"
    return r.conductor.dispatch_ids[-1]


async def restart(r: Rig, historian: Historian | None = None) -> None:
    """Stop the conductor and start a new one on the same event log (what a reboot does)."""
    await r.conductor.close()
    r.conductor = Conductor(r.config, r.events, r.clock, historian=historian)
    await r.conductor.connect()
    await wait_for(lambda: fresh(r, "bat1.p_kw"), "telemetry after the restart")


def ramp_hit(event: Event) -> dict[str, Any]:
    (hit,) = [h for h in event.payload["constraints"] if h["constraint"] == "ramp"]
    return dict(hit)


@pytest.mark.integration
async def test_ramp_and_rate_limit_read_the_logged_history_also_after_a_restart(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, adapt=slow_ramp, auto_approve_max_kw=400, two_person_min_kw=400) as r:
        # 1. No history yet: the ramp is taken from the measured output (0 kW).
        await r.conductor.cycle(r.clock())
        (first,) = r.conductor.dispatch_ids
        g = gated(r, first)
        assert g.payload["outcome"] == "clamped" and g.payload["value"] == STEP_KW
        assert "from the measured bat1.p_kw" in ramp_hit(g)["reason"]
        assert g.payload["history"] == []
        assert [c.value for c in r.field.ledger("bat1")] == [STEP_KW]

        # 2. The ramp now starts from the last commanded value, read from the log.
        second = await next_cycle(r)
        g = gated(r, second)
        assert g.payload["outcome"] == "clamped" and g.payload["value"] == 2 * STEP_KW
        assert "from the last dispatched value" in ramp_hit(g)["reason"]
        assert [(d["asset"], d["value"]) for d in g.payload["history"]] == [("bat1", STEP_KW)]

        # 3. After a restart the history is still there (it lives in the log).
        await restart(r)
        third = await next_cycle(r)
        g = gated(r, third)
        assert g.payload["outcome"] == "clamped" and g.payload["value"] == 3 * STEP_KW
        hit = ramp_hit(g)
        assert "bat1 step 100 -> " in hit["reason"] and "last dispatched value" in hit["reason"]
        assert [d["value"] for d in g.payload["history"]] == [STEP_KW, 2 * STEP_KW]
        assert [c.value for c in r.field.ledger("bat1")] == [STEP_KW, 2 * STEP_KW, 3 * STEP_KW]

        # 4. The rate limit counts the commands sent before the restart: the 4th is refused.
        await restart(r)
        fourth = await next_cycle(r)
        g = gated(r, fourth)
        assert g.payload["outcome"] == "rejected"
        assert "rate_limit" in {h["constraint"] for h in g.payload["constraints"]}
        assert len(r.field.ledger("bat1")) == MAX_COMMANDS

        # Replay re-runs every gate decision on its recorded history: bit-identical.
        result = replay(r.events, PEAK - timedelta(hours=1), PEAK + timedelta(hours=1))
        assert result.dispatches == 4 and result.differences == [], result.differences

        # A recorded history that says otherwise gives another verdict, and replay says so.
        tampered = tmp_path / "tampered.db"
        copy_log(r.db, tampered)
        edit_gated(tampered, second, lambda p: p["history"][0].update(value=0.0))
        diffs = replay_differences(tampered)
        assert [(d.dispatch_id, d.decision) for d in diffs] == [(second, "gate")]
        assert diffs[0].recorded.startswith("clamped 100 kW")
        assert diffs[0].replayed.startswith("clamped 50 kW")


def yesterday(historian: Historian, now: datetime, meter_kw: float, later_meter_kw: float) -> None:
    """The feeder a day before ``now``: ``meter_kw`` until 5 min after, then ``later_meter_kw``."""
    t = now - timedelta(days=1, minutes=10)
    while t < now - timedelta(days=1) + timedelta(minutes=40):
        late = t >= now - timedelta(days=1) + gate_inputs.STEP
        historian.add("substation.p_kw", t, later_meter_kw if late else meter_kw)
        historian.add("bat1.p_kw", t, 0.0)
        historian.add("pv1.p_kw", t, 123.0)  # not on the feeder's sum
        t += timedelta(seconds=30)
    historian.flush()


@pytest.mark.integration
async def test_thermal_fires_on_the_forecast_live_after_a_restart_and_in_replay(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, auto_approve_max_kw=400, two_person_min_kw=400) as r:
        # A made-up yesterday: 5 minutes after this time the feeder fell from 1300 kW
        # import to 3000 kW export. Level-adjusted, the forecast expects the same drop
        # from today's load, beyond the 1600 kW transformer rating: discharging the
        # battery on top would only add to it. The measured state alone sees nothing wrong.
        historian = Historian(tmp_path / "historian")
        yesterday(historian, PEAK, 1300.0, -3000.0)
        r.conductor.historian = historian
        await r.conductor.cycle(r.clock())
        (first,) = r.conductor.dispatch_ids
        g = gated(r, first)
        assert g.payload["outcome"] == "rejected"
        assert "thermal.feeder" in {h["constraint"] for h in g.payload["constraints"]}
        forecast = g.payload["forecast"]
        assert forecast is not None and forecast["step_s"] == 300.0
        series = forecast["feeder_net_kw"]["feeder"]
        assert len(series) == 3 and series[1] == pytest.approx(series[0] - 4300.0)
        assert g.payload["forecast_note"].startswith("seasonal naive")
        assert r.field.ledger("bat1") == []

        # The same after a restart (the historian is the forecast's memory).
        await restart(r, historian)
        second = await next_cycle(r)
        g = gated(r, second)
        assert g.payload["outcome"] == "rejected"
        assert "thermal.feeder" in {h["constraint"] for h in g.payload["constraints"]}

        # Without a forecast the gate holds the measured load flat, and says so.
        await restart(r, None)
        third = await next_cycle(r)
        g = gated(r, third)
        assert g.payload["outcome"] in ("accepted", "clamped"), g.payload
        assert g.payload["forecast"] is None
        assert "no historian" in g.payload["forecast_note"]

        result = replay(r.events, PEAK - timedelta(hours=1), PEAK + timedelta(hours=1))
        assert result.dispatches == 3 and result.differences == [], result.differences

        # A tampered forecast (flat at the present value): replay finds the verdict changed.
        tampered = tmp_path / "tampered.db"
        copy_log(r.db, tampered)

        def flatten(p: dict[str, Any]) -> None:
            values = p["forecast"]["feeder_net_kw"]["feeder"]
            p["forecast"]["feeder_net_kw"]["feeder"] = [values[0]] * len(values)

        edit_gated(tampered, first, flatten)
        diffs = replay_differences(tampered)
        assert [(d.dispatch_id, d.decision) for d in diffs] == [(first, "gate")]
        assert diffs[0].recorded.startswith("rejected") and "thermal.feeder" in diffs[0].recorded
        assert "thermal.feeder" not in diffs[0].replayed


def replay_differences(db: Path) -> list[Difference]:
    log = EventLog(db, readonly=True)
    try:
        return replay(log, PEAK - timedelta(hours=1), PEAK + timedelta(hours=1)).differences
    finally:
        log.close()


def copy_log(src: Path, dst: Path) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def edit_gated(db: Path, dispatch_id: str, change: Any) -> None:
    """Rewrite the stored payload of a dispatch's first ``dispatch.gated`` (breaks the chain)."""
    with sqlite3.connect(db) as raw:
        seq, payload = raw.execute(
            "SELECT seq, payload FROM events WHERE kind = 'dispatch.gated' AND dispatch_id = ?"
            " ORDER BY seq LIMIT 1",
            (dispatch_id,),
        ).fetchone()
        body = json.loads(payload)
        change(body)
        raw.execute("UPDATE events SET payload = ? WHERE seq = ?", (json.dumps(body), seq))


# --- the pure parts ----------------------------------------------------------------


def snapshot(values: dict[str, float], at: datetime) -> StateSnapshot:
    return StateSnapshot(
        readings={
            p: Reading(point=p, value=v, ts=at, quality=Quality.GOOD) for p, v in values.items()
        }
    )


def test_seasonal_naive_is_level_adjusted_and_stops_at_the_first_gap() -> None:
    now = PEAK
    day_ago = now - timedelta(days=1)
    rows = [
        ("m", day_ago + timedelta(seconds=30), 1000.0),
        ("m", day_ago + timedelta(minutes=2), 1100.0),  # step 0 mean: 1050
        ("s", day_ago + timedelta(minutes=1), -50.0),  # storage: step 0 sum 1000
        ("m", day_ago + timedelta(minutes=6), 1400.0),
        ("s", day_ago + timedelta(minutes=7), 0.0),  # step 1 sum 1400
        ("m", day_ago + timedelta(minutes=11), 900.0),  # step 2: no storage sample -> gap
        ("m", day_ago + timedelta(minutes=16), 900.0),
        ("s", day_ago + timedelta(minutes=16), 0.0),
    ]
    forecast, note = gate_inputs.seasonal_naive(
        "f", ("m", "s"), rows, snapshot({"m": 1200.0, "s": 30.0}, now), now, 4
    )
    assert forecast is not None
    assert forecast.start == now and forecast.step == gate_inputs.STEP
    assert forecast.feeder_net_kw == {"f": (1230.0, 1630.0)}
    assert "2 of 4 steps" in note


def test_seasonal_naive_without_samples_or_state_gives_no_forecast_and_says_why() -> None:
    now = PEAK
    state = snapshot({"m": 1200.0}, now)
    assert gate_inputs.seasonal_naive("f", ("m",), [], state, now, 3)[0] is None
    forecast, note = gate_inputs.seasonal_naive("f", ("m", "s"), [], state, now, 3)
    assert forecast is None and "no measured value of s" in note


def test_a_v1_gated_record_is_upcast_to_no_history_and_no_forecast() -> None:
    old = {"outcome": "accepted", "value": 10.0, "constraints": [], "recheck": False}
    body = upcast_to("dispatch.gated", old, 2)
    assert body["history"] == [] and body["forecast"] is None and body["v"] == 2
    assert "v1" in body["forecast_note"]


def test_recorded_inputs_are_exactly_what_the_gate_takes() -> None:
    forecast, note = gate_inputs.seasonal_naive(
        "f",
        ("m",),
        [("m", PEAK - timedelta(days=1), 0.1), ("m", PEAK - timedelta(hours=23, minutes=55), 0.7)],
        snapshot({"m": 1 / 3}, PEAK),
        PEAK,
        2,
    )
    assert forecast is not None
    inputs = gate_inputs.recorded((), forecast, note)
    assert inputs.forecast == forecast
    assert inputs.forecast_body is not None
    again = json.loads(json.dumps(inputs.forecast_body.model_dump(mode="json")))
    assert again["feeder_net_kw"]["f"] == list(forecast.feeder_net_kw["f"])


# --- the history, folded incrementally ---------------------------------------------


class CountingLog(EventLog):
    """A real event log that counts the events it hands out (what the reads cost)."""

    handed_out = 0

    def events(self, **query: Any) -> Iterator[Event]:
        for event in super().events(**query):
            self.handed_out += 1
            yield event


def dispatch(
    log: EventLog,
    did: str,
    asset: str,
    sends: Sequence[datetime],
    *,
    proposed: float = 100.0,
    approved: float | None = None,
    kind: str = "active_power_kw",
) -> None:
    """A legal chain: proposed, gated, approved (its command wins), sent; failed and retried
    before each further send; proposed and gated only when there are no sends."""
    start = sends[0] if sends else PEAK

    def command(value: float) -> ev.CommandBody:
        return ev.CommandBody(
            key=did,
            asset=asset,
            kind=kind,
            value=value,
            start=start,
            end=start + timedelta(minutes=15),
            origin="agent",
        )

    items: list[Any] = [
        (ev.DispatchProposed(command=command(proposed), policy="p", rationale="r",
                             snapshot={}, rollback_kw=0.0, last_setpoint_kw=0.0), start),
        (ev.DispatchGated(outcome="accepted", value=proposed, constraints=[]), start),
    ]  # fmt: skip
    value = approved if approved is not None else proposed
    if sends:
        items.append(
            (ev.DispatchApproved(command=command(value), value=value, source="field",
                                 rollback_kw=0.0), start)
        )  # fmt: skip
    for n, at in enumerate(sends, start=1):
        if n > 1:
            items.append((ev.DispatchFailed(reason="timeout", attempt=n - 1, retryable=True), at))
            items.append((ev.DispatchRetried(attempt=n, delay_s=1.0, reason="timeout"), at))
        items.append((ev.DispatchSent(value=value, source="field", rollback_kw=0.0, attempt=n), at))
    for body, at in items:
        log.append_event(body, ts=at, dispatch_id=did)


def full_read_history(
    log: EventLog,
    last_key: Mapping[str, str],
    asset: str,
    now: datetime,
    lookback: timedelta,
    exclude: str | None = None,
) -> tuple[Dispatch, ...]:
    """The history the gate must get, from a read of the whole log (no cursor, no cache)."""
    everything = [e for e in log.events() if e.ts <= now]
    ids = {
        e.dispatch_id
        for e in everything
        if e.kind == "dispatch.sent" and now - lookback <= e.ts and e.dispatch_id is not None
    }
    ids |= {last_key[asset]} if asset in last_key else set()
    out = []
    for did in ids - {exclude}:
        command = None
        for e in (e for e in everything if e.dispatch_id == did):
            if e.kind == "dispatch.approved" or (e.kind == "dispatch.proposed" and not command):
                command = e.payload["command"]
            elif e.kind == "dispatch.sent" and command is not None:
                if command["asset"] == asset:
                    out.append(records.command_dispatch(command, e.payload["value"], e.ts))
                break
    return tuple(sorted(out, key=lambda d: (d.at, d.kind.value, d.value)))


def test_history_stays_right_for_every_command_of_a_cycle_and_after_new_dispatches(
    tmp_path: Path,
) -> None:
    config = slow_ramp(load_config(REPO / "configs" / "demo-feeder.yaml"))
    envelope = site.envelope(config)
    hour = gate_inputs.lookback(envelope)
    assert hour == timedelta(hours=1)  # bat1's rate-limit window
    log = CountingLog(tmp_path / "events.db")
    t = PEAK
    dispatch(log, "old", "bat1", [t - timedelta(hours=3)])
    dispatch(log, "retried", "bat1", [t - timedelta(hours=2), t - timedelta(minutes=30)])
    dispatch(log, "a", "bat1", [t - timedelta(minutes=50)], proposed=100.0, approved=80.0)
    dispatch(log, "pv", "pv1", [t - timedelta(minutes=40)], kind="curtail_pct", proposed=30.0)
    dispatch(log, "never", "bat1", [])
    projections = Projections.load(log)
    sends = gate_inputs.SendHistory(log)

    # One cycle at t gates three commands: bat1, pv1, and a re-check of "a" (not its own).
    cycle = [("bat1", None), ("pv1", None), ("bat1", "a")]
    got = [sends.history(projections.last_key, envelope, a, t, exclude=x) for a, x in cycle]
    assert got == [full_read_history(log, projections.last_key, a, t, hour, x) for a, x in cycle]
    bat1, pv1, recheck = got
    assert [(d.value, d.at) for d in bat1] == [
        (100.0, t - timedelta(hours=2)),  # first sent before the window, retried inside it
        (80.0, t - timedelta(minutes=50)),  # the approved command's value
    ]
    assert [(d.asset, d.kind.value, d.value) for d in pv1] == [("pv1", "curtail_pct", 30.0)]
    assert [d.at for d in recheck] == [t - timedelta(hours=2)]
    # The 2nd and 3rd commands read nothing from the log: nothing was sent since the 1st.
    before = log.handed_out
    assert sends.history(projections.last_key, envelope, "bat1", t) == bat1
    assert log.handed_out == before and sends.refresh() == 0

    # New dispatches: they join, what left the window goes, the newest stays however old.
    dispatch(log, "b", "bat1", [t + timedelta(minutes=10)], proposed=120.0)
    dispatch(log, "pv2", "pv1", [t + timedelta(minutes=5)], kind="curtail_pct")
    for event in log.events(after_seq=projections.seq):
        projections.apply(event)
    later = t + timedelta(minutes=40)
    (newest,) = sends.history(projections.last_key, envelope, "bat1", later)
    assert (newest.value, newest.at) == (120.0, t + timedelta(minutes=10))
    # Any time, in any order; a window starting (t + 30 min) or ending (t - 30 min) on a send.
    edges = (t + timedelta(minutes=30), t - timedelta(minutes=30))
    for now in (later, t + timedelta(hours=5), t, t - timedelta(minutes=45), *edges, later):
        for asset in ("bat1", "pv1", "load1"):
            expected = full_read_history(log, projections.last_key, asset, now, hour)
            assert sends.history(projections.last_key, envelope, asset, now) == expected

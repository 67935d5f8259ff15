"""External DR events: the payload check (table), the agent, and events over real MQTT."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from runtime.agents import DrAccepted, DrEvent, DrRejected, accept_dr_event
from runtime.agents.dr import DrAgent
from safety import Origin
from tests.support.mosquitto import Broker

from .support import T0, conductor, config, feed, kinds, perception

ASSETS = frozenset({"substation", "bat1", "pv1", "load1"})


def body(**over: Any) -> bytes:
    event = {
        "event_id": "dr-42",
        "target_kw": 900,
        "start": "2026-07-15T18:00:00Z",
        "end": "2026-07-15T20:00:00Z",
        "targets": ["bat1"],
    }
    event.update(over)
    return orjson.dumps({k: v for k, v in event.items() if v is not None})


def test_a_good_event_is_accepted() -> None:
    result = accept_dr_event(body(), T0, assets=ASSETS)
    assert isinstance(result, DrAccepted)
    assert result.event.event_id == "dr-42" and result.event.target_kw == 900
    assert result.event.applies_to("bat1") and not result.event.applies_to("pv1")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (body(target_kw=None), "give exactly one of signal_level (0-3) or target_kw"),
        (body(signal_level=2), "give exactly one of signal_level (0-3) or target_kw"),
        (body(end="2026-07-15T17:00:00Z"), "must be after start"),
        (body(start="2026-07-15T18:00:00"), "dr event start"),  # no time zone
        (body(end="2026-07-17T18:00:00Z"), "at most 24 h"),
        (body(target_kw=-5), "dr event target_kw"),
        (body(colour="red"), "dr event colour: Extra inputs are not permitted"),
        (body(targets=["bat9"]), "targets bat9 are not assets of this site"),
        (
            body(start="2026-07-15T16:00:00Z", end="2026-07-15T17:00:00Z"),
            "already ended",
        ),
        (b"x" * 70_000, "at most 65536"),
    ],
)
def test_bad_payloads_are_rejected_with_a_reason_and_kept(raw: bytes, reason: str) -> None:
    result = accept_dr_event(raw, T0, assets=ASSETS)
    assert isinstance(result, DrRejected)
    assert reason in result.reason
    assert result.raw == raw


def event(**over: Any) -> DrEvent:
    base: dict[str, Any] = {
        "event_id": "dr-1",
        "start": T0,
        "end": T0 + timedelta(hours=2),
        "target_kw": 900,
    }
    base.update(over)
    return DrEvent.model_validate(base)


@pytest.mark.parametrize(
    ("events", "meter_kw", "last_kw", "expected"),
    [
        ((event(),), 1000, 0, 100.0),  # import 1000 kW, target 900: discharge 100
        ((event(target_kw=None, signal_level=2),), 600, 0, 167.0),  # 2/3 of 250 kW
        ((event(target_kw=None, signal_level=3), event(event_id="b")), 1000, 0, 250.0),
        ((event(start=T0 + timedelta(hours=1)),), 1000, 0, None),  # not started yet
        ((event(targets=["load1"]),), 1000, 0, None),  # not for the battery
        ((event(),), 1000, 95, None),  # already there (deadband)
        ((event(target_kw=2000),), 1000, 0, None),  # import already under target
    ],
)
def test_dr_agent_table(
    events: tuple[DrEvent, ...], meter_kw: float, last_kw: float, expected: float | None
) -> None:
    p = perception(
        {"substation.p_kw": meter_kw, "bat1.p_kw": 0},
        dr_events=events,
        setpoints={"bat1": last_kw},
    )
    decision = DrAgent().decide(p, config(), T0)
    values = [pr.command.value for pr in decision.proposals]
    assert values == ([] if expected is None else [expected])
    for pr in decision.proposals:
        assert pr.command.origin is Origin.DR_EVENT and pr.policy == "dr_event"
        assert pr.command.end <= T0 + timedelta(seconds=900)


FIELD = {
    "substation.p_kw": 1000.0,
    "bat1.p_kw": 0.0,
    "bat1.soc_pct": 80.0,
    "pv1.p_kw": 0.0,
    "pv1.curtail_pct": 0.0,
    "load1.p_kw": 200.0,
    "load1.curtail_pct": 0.0,
}


async def wait_for(predicate: Any, what: str, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_dr_event_over_real_mqtt_becomes_a_proposal(
    tmp_path: Path, mosquitto: Broker
) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["agents"]["dr_events"] = {
            "enabled": True,
            "mqtt": {"host": mosquitto.host, "port": mosquitto.port},
        }
        raw["approvals"]["auto_approve_max_kw"] = 0  # an operator signs off: nothing is sent

    c, _clock, events = conductor(tmp_path, config(edit))
    feed(c, {**FIELD, "substation.p_kw": 1300.0}, T0)  # above the peak threshold too
    c.agents.start()
    publisher = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    try:
        assert c.agents.subscriber is not None
        await wait_for(c.agents.subscriber.subscribed.is_set, "DR subscription")
        publisher.connect(mosquitto.host, mosquitto.port)
        publisher.loop_start()
        topic = "gridaios/v1/demo-feeder/dr/event"
        publisher.publish(topic, body(), qos=1).wait_for_publish(5)
        publisher.publish(topic, b'{"event_id": "bad"}', qos=1).wait_for_publish(5)
        await wait_for(lambda: len(c.agents.inbox) == 2, "both DR messages")
        await c.cycle(T0)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        c.agents.stop()
    (accepted,) = kinds(events, "agent.dr_event_accepted")
    assert accepted.payload["event_id"] == "dr-42"
    assert accepted.payload["via"] == f"mqtt:{topic}"
    (rejected,) = kinds(events, "agent.dr_event_rejected")
    assert rejected.payload["raw"] == '{"event_id": "bad"}'
    assert "dr event" in rejected.payload["reason"]
    assert c.agents.dr_counts == {"accepted": 1, "rejected": 1}
    (proposed,) = kinds(events, "dispatch.proposed")
    assert proposed.payload["policy"] == "dr_event"
    assert proposed.payload["command"]["origin"] == "dr_event"
    assert proposed.payload["command"]["value"] == 250.0  # 1300 -> 900 kW, up to the rating
    (requested,) = kinds(events, "approval.requested")
    assert requested.dispatch_id == proposed.dispatch_id
    decided = {e.payload["agent"]: e.payload for e in kinds(events, "agent.decided")}
    assert decided["dr_events"]["proposals"] == [proposed.dispatch_id]
    # the peak agent wanted bat1 too; the DR event has priority this cycle
    assert "higher-priority" in decided["peak_shaving"]["rationale"]
    events.close()

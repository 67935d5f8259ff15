"""Which command path a battery gets, what its config must hold, and the time mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runtime.conductor.sinks import (
    SameTime,
    ScaledTimeBase,
    command_sinks,
    held_setpoints,
    mqtt_command_source,
)
from runtime.config import site
from runtime.config.model import load_config, parse_config
from runtime.core.clock import FixedClock
from runtime.core.errors import ConfigError
from runtime.ingest.state import LatestState

REPO = Path(__file__).resolve().parents[2]
BRIDGE = REPO / "configs" / "demo-feeder-bridge.yaml"
DEMO = REPO / "configs" / "demo-feeder.yaml"


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "configs/x.yaml")
    return [issue.render("configs/x.yaml") for issue in info.value.issues]


def test_the_setpoint_source_chooses_the_command_path() -> None:
    bridged, plain = load_config(BRIDGE), load_config(DEMO)
    source = mqtt_command_source(bridged, bridged.battery("bat1"))
    assert source is not None and source.id == "bridge"
    assert mqtt_command_source(plain, plain.battery("bat1")) is None
    clock = FixedClock(datetime(2026, 7, 15, 18, tzinfo=UTC))
    sinks = command_sinks(bridged, LatestState().snapshot().get, clock)
    assert list(sinks) == ["bridge"]
    points = sinks["bridge"].points["bat1"]
    assert points.device == "bat1" and points.command_point == "bat1.p_setpoint_kw"
    assert points.readback_point == "bat1.setpoint_readback_kw"
    assert points.safe_mode_point == "bat1.safe_mode"
    assert command_sinks(plain, LatestState().snapshot().get, clock) == {}


def test_an_mqtt_setpoint_needs_its_read_back_on_the_same_source() -> None:
    text = BRIDGE.read_text()
    lines = [ln for ln in text.splitlines() if "setpoint_readback_kw:" not in ln]
    (error,) = _errors("\n".join(lines))
    assert error.startswith("configs/x.yaml: assets[1].points: points setpoint_readback_kw")
    assert "over MQTT (source bridge)" in error and "node: bat1.p_setpoint_kw" in error
    moved = text.replace(
        "setpoint_readback_kw: {source: bridge", "setpoint_readback_kw: {source: field"
    )
    assert "points setpoint_readback_kw" in _errors(moved)[0]


def test_key_points_are_an_option_on_opc_ua_but_come_in_pairs() -> None:
    assert "cmd_key" not in load_config(BRIDGE).battery("bat1").points
    lines = [ln for ln in DEMO.read_text().splitlines() if "cmd_key" not in ln]
    keyless = parse_config("\n".join(lines), "configs/x.yaml")  # standard control
    assert site.write_target(keyless.battery("bat1")).keyless
    lines = [ln for ln in DEMO.read_text().splitlines() if "cmd_key_applied" not in ln]
    (error,) = _errors("\n".join(lines))
    assert "points cmd_key_applied are required for a battery" in error
    assert "over opcua (source field)" in error


def test_scaled_time_maps_ages_and_deadlines_both_ways() -> None:
    runtime = FixedClock(datetime(2026, 7, 15, 18, tzinfo=UTC))
    device = FixedClock(datetime(2026, 11, 27, 14, tzinfo=UTC))
    tb = ScaledTimeBase(runtime, 300.0, device)
    # A deadline 15 simulated minutes ahead is 3 wall seconds ahead for the device.
    assert tb.to_device(runtime() + timedelta(minutes=15)) == device() + timedelta(seconds=3)
    # A reading 0.1 wall seconds old is 30 simulated seconds old.
    assert tb.to_runtime(device() - timedelta(seconds=0.1)) == runtime() - timedelta(seconds=30)
    t = runtime() + timedelta(seconds=123)
    assert tb.to_runtime(tb.to_device(t)) == t
    assert tb.device_now() == device()
    with pytest.raises(ValueError, match="must be > 0"):
        ScaledTimeBase(runtime, 0.0)
    same = SameTime()
    assert same.to_device(t) == t and same.to_runtime(t) == t


def test_a_device_in_safe_mode_holds_its_read_back_not_the_last_dispatch() -> None:
    from safety import Quality, Reading

    config = load_config(BRIDGE)
    now = datetime(2026, 7, 15, 18, tzinfo=UTC)
    values: dict[str, float] = {"bat1.setpoint_readback_kw": 0.0, "bat1.safe_mode": 0.0}

    def readings(point: str) -> Reading | None:
        if point not in values:
            return None
        return Reading(point=point, value=values[point], ts=now, quality=Quality.GOOD)

    sinks = command_sinks(config, readings, FixedClock(now))
    recorded = {"bat1": 120.0, "pv1": 10.0}
    assert held_setpoints(recorded, sinks, readings) == recorded  # following the runtime
    values["bat1.safe_mode"] = 1.0  # the bridge failed safe
    assert held_setpoints(recorded, sinks, readings) == {"bat1": 0.0, "pv1": 10.0}
    assert held_setpoints(recorded, {}, readings) == recorded  # no bridge, no override

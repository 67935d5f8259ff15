"""Shared builders for the agent tests: the demo config with edits, snapshots, a conductor."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from connectors import Sample
from connectors.sample import SampleQuality
from runtime.agents import Factories, Perception
from runtime.conductor.loop import Conductor
from runtime.config.model import SiteConfig, parse_config
from runtime.core.clock import FixedClock
from runtime.log.eventlog import EventLog
from safety import Quality, Reading, StateSnapshot

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "configs" / "demo-feeder.yaml"
T0 = datetime(2026, 7, 15, 18, 0, tzinfo=UTC)


def demo_raw() -> dict[str, Any]:
    raw = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    raw["feeder"]["network"] = str(REPO / "configs" / "networks" / "demo-feeder.yaml")
    return raw


def config(edit: Callable[[dict[str, Any]], None] | None = None) -> SiteConfig:
    raw = demo_raw()
    if edit is not None:
        edit(raw)
    return parse_config(yaml.safe_dump(raw), "demo-feeder.yaml (test)")


def snapshot(values: Mapping[str, float], at: datetime = T0) -> StateSnapshot:
    return StateSnapshot(
        readings={
            p: Reading(point=p, value=v, ts=at, quality=Quality.GOOD) for p, v in values.items()
        }
    )


def perception(values: Mapping[str, float], at: datetime = T0, **kw: Any) -> Perception:
    return Perception(snapshot=snapshot(values, at), **kw)


def feed(conductor: Conductor, values: Mapping[str, float], at: datetime) -> None:
    """Telemetry into the conductor's latest-value state, as a connector would deliver it."""
    for point, value in values.items():
        conductor.state.apply(
            Sample(
                point=point,
                value=value,
                unit="",
                quality=SampleQuality.GOOD,
                source_ts=at,
                received_ts=at,
                sequence=0,
            )
        )


def conductor(
    tmp_path: Path, cfg: SiteConfig, at: datetime = T0, factories: Factories | None = None
) -> tuple[Conductor, FixedClock, EventLog]:
    """A conductor with no field connection: proposals stop at the approval request."""
    clock = FixedClock(at)
    events = EventLog(tmp_path / "events.db")
    return Conductor(cfg, events, clock, agent_factories=factories), clock, events


def kinds(events: EventLog, kind: str) -> list[Any]:
    return list(events.events(kinds=(kind,)))


STEP = timedelta(minutes=5)

FIELD_POINTS = {
    "substation.p_kw": 1000.0,
    "bat1.p_kw": 0.0,
    "bat1.soc_pct": 80.0,
    "pv1.p_kw": 0.0,
    "pv1.curtail_pct": 0.0,
    "load1.p_kw": 200.0,
    "load1.curtail_pct": 0.0,
}

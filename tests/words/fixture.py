"""A small real event log (SQLite) the question cases are answered from."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from runtime.log.eventlog import EventLog

NOW = datetime.fromisoformat("2026-06-15T15:10:00+00:00")  # 17:10 Europe/Berlin
READINGS = {  # point -> (value, seconds before NOW)
    "bat1.soc_pct": (62.4, 14),
    "bat1.p_kw": (118.0, 9),
    "pv1.p_kw": (287.3, 6),
    "load1.p_kw": (512.6, 11),
    "substation.p_kw": (1043.0, 4),
}
DISPATCH_A = "d-bat1-1405"  # 14:05 UTC = 16:05 Berlin: discharge bat1 180 kW
DISPATCH_B = "d-pv1-1450"  # 14:50 UTC = 16:50 Berlin: curtail pv1 30 %
PENDING = "d-bat1-1505"  # 15:05 UTC: 240 kW waiting for two people
FORECAST_PEAK = (1187.0, datetime.fromisoformat("2026-06-15T17:45:00+00:00"))


def _proposed(asset: str, kind: str, value: float, at: datetime, why: str) -> dict[str, object]:
    return {
        "command": {
            "key": f"k-{asset}-{at:%H%M}",
            "asset": asset,
            "kind": kind,
            "value": value,
            "start": at.isoformat(),
            "end": (at + timedelta(minutes=15)).isoformat(),
            "origin": "policy",
        },
        "policy": "peak_shaving" if asset == "bat1" else "pv_curtailment",
        "rationale": why,
        "inputs": {},
        "snapshot": {},
        "rollback_kw": 0.0,
        "last_setpoint_kw": 0.0,
    }


def build(path: Path) -> EventLog:
    log = EventLog(path)
    a = datetime.fromisoformat("2026-06-15T14:05:00+00:00")
    log.append(
        "dispatch.proposed",
        _proposed(
            "bat1",
            "active_power_kw",
            180.0,
            a,
            "the feeder was at 1282 kW, above the 1100 kW threshold",
        ),
        ts=a,
        dispatch_id=DISPATCH_A,
    )
    log.append(
        "dispatch.gated",
        {"outcome": "accepted", "value": 180.0, "constraints": []},
        ts=a,
        dispatch_id=DISPATCH_A,
    )
    log.append(
        "approval.granted",
        {"user": "alice", "reason": "evening peak"},
        ts=a + timedelta(minutes=1),
        dispatch_id=DISPATCH_A,
    )
    log.append(
        "dispatch.verified", {"value": 180.0}, ts=a + timedelta(minutes=2), dispatch_id=DISPATCH_A
    )
    b = datetime.fromisoformat("2026-06-15T14:50:00+00:00")
    log.append(
        "dispatch.proposed",
        _proposed(
            "pv1",
            "curtail_pct",
            30.0,
            b,
            "the feeder end voltage was 1.047 pu, near the 1.05 pu limit",
        ),
        ts=b,
        dispatch_id=DISPATCH_B,
    )
    log.append(
        "dispatch.gated",
        {"outcome": "accepted", "value": 30.0, "constraints": []},
        ts=b,
        dispatch_id=DISPATCH_B,
    )
    log.append(
        "approval.auto",
        {"requirement": "auto", "reason": "a curtailment within limits"},
        ts=b,
        dispatch_id=DISPATCH_B,
    )
    c = datetime.fromisoformat("2026-06-15T15:05:00+00:00")
    log.append(
        "dispatch.proposed",
        _proposed("bat1", "active_power_kw", 240.0, c, "the feeder was at 1340 kW"),
        ts=c,
        dispatch_id=PENDING,
    )
    log.append(
        "approval.requested",
        {
            "requirement": "two_operators",
            "expires_at": (c + timedelta(minutes=15)).isoformat(),
            "asset": "bat1",
            "value": 240.0,
            "rationale": "the feeder was at 1340 kW",
            "simulation": "peak 1100 kW",
        },
        ts=c,
        dispatch_id=PENDING,
    )
    for point, (value, age_s) in READINGS.items():
        at = NOW - timedelta(seconds=age_s)
        log.append("telemetry.sample", {"point": point, "value": value}, ts=at)
    return log

"""Decision inputs and outputs <-> event bodies, both ways.

The conductor records what each pure decision function took; replay rebuilds
the same domain objects from those records and calls the functions again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from runtime import events as ev
from runtime.config import SiteConfig
from safety import (
    Accepted,
    Clamped,
    Command,
    CommandKind,
    Origin,
    Quality,
    Reading,
    StateSnapshot,
    Verdict,
)
from simulator import TwinState, ValidationReport


def config_json(config: SiteConfig) -> tuple[dict[str, Any], str]:
    body = config.model_dump(mode="json")
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return body, hashlib.sha256(text.encode()).hexdigest()[:16]


def command_body(command: Command) -> ev.CommandBody:
    return ev.CommandBody(
        key=command.key,
        asset=command.asset,
        kind=command.kind.value,
        value=command.value,
        start=command.start,
        end=command.end,
        origin=command.origin.value,
    )


def command_from(body: Mapping[str, Any]) -> Command:
    return Command(
        key=str(body["key"]),
        asset=str(body["asset"]),
        kind=CommandKind(body["kind"]),
        value=float(body["value"]),
        start=_dt(body["start"]),
        end=_dt(body["end"]),
        origin=Origin(body["origin"]),
    )


def snapshot_body(snapshot: StateSnapshot) -> dict[str, ev.ReadingBody]:
    return {
        p: ev.ReadingBody(value=r.value, ts=r.ts, quality=r.quality.value)
        for p, r in snapshot.readings.items()
    }


def snapshot_from(body: Mapping[str, Any]) -> StateSnapshot:
    return StateSnapshot(
        readings={
            p: Reading(
                point=p, value=float(r["value"]), ts=_dt(r["ts"]), quality=Quality(r["quality"])
            )
            for p, r in body.items()
        }
    )


def gated(verdict: Verdict, *, recheck: bool = False) -> ev.DispatchGated:
    value = verdict.approved.value if isinstance(verdict, Accepted | Clamped) else None
    return ev.DispatchGated(
        outcome=verdict.outcome,
        value=value,
        constraints=[ev.HitBody(**asdict(hit)) for hit in verdict.hits],
        recheck=recheck,
    )


def simulated(report: ValidationReport, twin: TwinState, value: float) -> ev.DispatchSimulated:
    return ev.DispatchSimulated(
        ok=report.ok,
        summary=report.summary(),
        violations=[{**asdict(v), "at": v.at.isoformat()} for v in report.violations],
        steps=report.steps,
        step_s=report.step_s,
        peak_kw_plan=report.peak_kw_plan,
        peak_kw_baseline=report.peak_kw_baseline,
        energy_shifted_kwh=report.energy_shifted_kwh,
        twin_state=ev.TwinStateBody(
            soc_pct=dict(twin.soc_pct),
            p_kw=dict(twin.p_kw),
            uncontrolled_net_kw=twin.uncontrolled_net_kw,
        ),
        value=value,
    )


def twin_from(body: Mapping[str, Any]) -> TwinState:
    return TwinState(
        soc_pct={k: float(v) for k, v in body["soc_pct"].items()},
        p_kw={k: float(v) for k, v in body["p_kw"].items()},
        uncontrolled_net_kw=float(body["uncontrolled_net_kw"]),
    )


def _dt(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))

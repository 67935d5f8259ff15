"""Decision inputs and outputs <-> event bodies, both ways.

The conductor records what each pure decision function took; replay rebuilds
the same domain objects from those records and calls the functions again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from runtime.config.model import SiteConfig
from runtime.log import events as ev
from safety import (
    Accepted,
    Clamped,
    Command,
    CommandKind,
    Dispatch,
    Forecast,
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


def gated(
    verdict: Verdict,
    *,
    recheck: bool = False,
    history: Sequence[ev.DispatchBody] = (),
    forecast: ev.ForecastBody | None = None,
    forecast_note: str = "",
) -> ev.DispatchGated:
    """The verdict and the history and forecast the gate took (replay passes them back)."""
    return ev.DispatchGated(
        **verdict_body(verdict),
        recheck=recheck,
        history=list(history),
        forecast=forecast,
        forecast_note=forecast_note,
    )


def verdict_body(verdict: Verdict) -> dict[str, Any]:
    """outcome, value and every constraint hit: what replay compares, exactly."""
    value = verdict.approved.value if isinstance(verdict, Accepted | Clamped) else None
    return {
        "outcome": verdict.outcome,
        "value": value,
        "constraints": [ev.HitBody(**asdict(hit)) for hit in verdict.hits],
    }


def dispatch_body(dispatch: Dispatch) -> ev.DispatchBody:
    return ev.DispatchBody(
        asset=dispatch.asset, kind=dispatch.kind.value, value=dispatch.value, at=dispatch.at
    )


def command_dispatch(command: Mapping[str, Any], value: float, at: datetime) -> Dispatch:
    """A recorded command body, sent with ``value`` at ``at``, as a history entry."""
    return Dispatch(
        asset=str(command["asset"]), kind=CommandKind(command["kind"]), value=value, at=at
    )


def history_from(body: Sequence[Mapping[str, Any]]) -> tuple[Dispatch, ...]:
    return tuple(
        Dispatch(
            asset=str(d["asset"]),
            kind=CommandKind(d["kind"]),
            value=float(d["value"]),
            at=_dt(d["at"]),
        )
        for d in body
    )


def forecast_body(forecast: Forecast) -> ev.ForecastBody:
    return ev.ForecastBody(
        start=forecast.start,
        step_s=forecast.step.total_seconds(),
        feeder_net_kw={k: list(v) for k, v in forecast.feeder_net_kw.items()},
        bus_voltage_pu={k: list(v) for k, v in forecast.bus_voltage_pu.items()},
    )


def forecast_from(body: Mapping[str, Any] | None) -> Forecast | None:
    if body is None:
        return None
    return Forecast(
        start=_dt(body["start"]),
        step=timedelta(seconds=float(body["step_s"])),
        feeder_net_kw={str(k): tuple(map(float, v)) for k, v in body["feeder_net_kw"].items()},
        bus_voltage_pu={str(k): tuple(map(float, v)) for k, v in body["bus_voltage_pu"].items()},
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

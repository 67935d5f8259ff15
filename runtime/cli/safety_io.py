"""State and plan JSON for ``gridaios safety``: parse into gate types, print verdicts.

State: ``{"now": ISO8601, "values": [{"point", "value", "ts", "quality"}]}``.
Plan: ``{"commands": [{"key", "asset", "kind", "value", "start", "end", "origin"}]}``.
A file that does not fit is bad input, reported as ``file: path = value: rule``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from runtime.core.errors import ConfigIssue, GridaiosError
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

M = TypeVar("M", bound=BaseModel)


class BadInput(GridaiosError):
    """A state or plan file is not what the gate can read: fix the file, exit 2."""

    def __init__(self, file: str, issues: list[ConfigIssue]) -> None:
        self.file = file
        self.issues = issues
        super().__init__("\n".join(i.render(file) for i in issues))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValueIn(_Model):
    point: str
    value: float
    ts: AwareDatetime
    quality: Literal["good", "uncertain", "bad"]
    unit: str | None = None


class StateIn(_Model):
    now: AwareDatetime
    values: list[ValueIn]


class CommandIn(_Model):
    key: str
    asset: str
    kind: CommandKind
    value: float
    start: AwareDatetime
    end: AwareDatetime
    origin: Origin
    unit: str | None = None


class PlanIn(_Model):
    commands: list[CommandIn]


class ForecastIn(_Model):
    start: AwareDatetime
    step_s: float = Field(gt=0)
    feeder_net_kw: dict[str, list[float]] = Field(default_factory=dict)
    bus_voltage_pu: dict[str, list[float]] = Field(default_factory=dict)


class DispatchIn(_Model):
    asset: str
    kind: CommandKind
    value: float
    at: AwareDatetime


class HistoryIn(_Model):
    dispatches: list[DispatchIn]


def read_json(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise BadInput(path, [ConfigIssue("(file)", "", f"cannot read: {err.strerror}")]) from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        where = f"line {err.lineno}, column {err.colno}"
        raise BadInput(path, [ConfigIssue(where, "", f"JSON syntax error: {err.msg}")]) from err


def parse_state(raw: Any, file: str, known_points: set[str]) -> tuple[StateSnapshot, datetime]:
    model = _validate(StateIn, raw, file)
    issues: list[ConfigIssue] = []
    readings: dict[str, Reading] = {}
    for i, v in enumerate(model.values):
        if v.point not in known_points:
            issues.append(
                ConfigIssue(
                    f"values[{i}].point", v.point, "unknown point; use asset.role from the config"
                )
            )
        elif v.point in readings:
            issues.append(ConfigIssue(f"values[{i}].point", v.point, "duplicate point"))
        readings[v.point] = Reading(
            point=v.point, value=v.value, ts=v.ts, quality=Quality(v.quality), unit=v.unit
        )
    if issues:
        raise BadInput(file, issues)
    return StateSnapshot(readings=readings), model.now


def parse_plan(raw: Any, file: str) -> list[Command]:
    model = _validate(PlanIn, raw, file)
    return [
        Command(
            key=c.key,
            asset=c.asset,
            kind=c.kind,
            value=c.value,
            start=c.start,
            end=c.end,
            origin=c.origin,
            unit=c.unit,
        )
        for c in model.commands
    ]


def parse_forecast(raw: Any, file: str, feeders: set[str], buses: set[str]) -> Forecast:
    """``{"start", "step_s", "feeder_net_kw": {feeder: [...]}, "bus_voltage_pu": {bus: [...]}}``."""
    model = _validate(ForecastIn, raw, file)
    issues = [
        ConfigIssue(f"{field}.{name}", name, f"unknown {what}; known: {', '.join(sorted(known))}")
        for field, table, known, what in (
            ("feeder_net_kw", model.feeder_net_kw, feeders, "feeder"),
            ("bus_voltage_pu", model.bus_voltage_pu, buses, "bus"),
        )
        for name in table
        if name not in known
    ]
    if issues:
        raise BadInput(file, issues)
    return Forecast(
        start=model.start,
        step=timedelta(seconds=model.step_s),
        feeder_net_kw={k: tuple(v) for k, v in model.feeder_net_kw.items()},
        bus_voltage_pu={k: tuple(v) for k, v in model.bus_voltage_pu.items()},
    )


def parse_history(raw: Any, file: str) -> list[Dispatch]:
    """``{"dispatches": [{"asset", "kind", "value", "at"}]}``: what was already sent."""
    model = _validate(HistoryIn, raw, file)
    return [Dispatch(asset=d.asset, kind=d.kind, value=d.value, at=d.at) for d in model.dispatches]


def _validate(model: type[M], raw: Any, file: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise BadInput(file, [_issue(e, raw) for e in err.errors()]) from err


def _issue(error: Any, raw: Any) -> ConfigIssue:
    parts: list[str] = []
    node: Any = raw
    found = True
    for item in error["loc"]:
        parts.append(f"[{item}]" if isinstance(item, int) else (f".{item}" if parts else item))
        try:
            node = node[item]
        except (KeyError, IndexError, TypeError):
            found = False
    path = "".join(parts) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return ConfigIssue(path, "", "unknown field; remove it or check its spelling")
    if kind == "missing":
        return ConfigIssue(path, "", "required field is missing")
    value = json.dumps(node) if found and not isinstance(node, dict | list) else ""
    return ConfigIssue(path, value, str(error["msg"]))


def state_json(state: StateSnapshot, now: datetime) -> dict[str, Any]:
    return {
        "now": now.isoformat(),
        "values": [
            {"point": r.point, "value": r.value, "ts": r.ts.isoformat(), "quality": r.quality.value}
            for r in state.readings.values()
        ],
    }


def plan_json(commands: Sequence[Command]) -> dict[str, Any]:
    return {
        "commands": [
            {
                "key": c.key,
                "asset": c.asset,
                "kind": c.kind.value,
                "value": c.value,
                "start": c.start.isoformat(),
                "end": c.end.isoformat(),
                "origin": c.origin.value,
            }
            for c in commands
        ]
    }


def verdicts_json(verdicts: Sequence[Verdict]) -> dict[str, Any]:
    counts = {"accepted": 0, "clamped": 0, "rejected": 0}
    rows = []
    for v in verdicts:
        counts[v.outcome] += 1
        approved = v.approved.value if isinstance(v, Accepted | Clamped) else None
        rows.append(
            {
                "key": v.command.key,
                "asset": v.command.asset,
                "kind": getattr(v.command.kind, "value", str(v.command.kind)),
                "requested": _num(v.command.value),
                "outcome": v.outcome,
                "approved_value": _num(approved),
                "constraints": [
                    {
                        "id": h.constraint,
                        "reason": h.reason,
                        "limit": _num(h.limit),
                        "observed": _num(h.observed),
                    }
                    for h in v.hits
                ],
            }
        )
    return {"verdicts": rows, "summary": counts}


def verdicts_text(verdicts: Sequence[Verdict]) -> str:
    lines: list[str] = []
    for v in verdicts:
        c = v.command
        kind = getattr(c.kind, "value", str(c.kind))
        head = f"{v.outcome.upper():9} {c.key}  {c.asset} {kind} {c.value:g}"
        if isinstance(v, Clamped):
            head += f" -> {v.value:g}"
        lines.append(head)
        lines.extend(f"          [{h.constraint}] {h.reason}" for h in v.hits)
    summary = verdicts_json(verdicts)["summary"]
    lines.append(
        f"{len(verdicts)} command(s): {summary['accepted']} accepted, "
        f"{summary['clamped']} clamped, {summary['rejected']} rejected"
    )
    return "\n".join(lines)


def _num(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None

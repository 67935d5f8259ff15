"""Replay: re-run the pure decision functions on the inputs the log recorded.

For every dispatch proposed in a time window: the policy (``peak_shaving``) on the
recorded snapshot and last setpoint, the gate (``safety.evaluate``, with the dispatch history and
forecast recorded in ``dispatch.gated``; its verdict compared exactly), plan
validation (``validate_plan`` on the recorded twin state) and the approval rule
(``decision.approval_requirement``: the kW a curtailment sheds, from the recorded
snapshot, as in production), each with the site config the run used (recorded in
``runtime.started``) or a candidate config. Every decision that comes out
different is listed. A proposal by another agent (operator intent, PV curtailment,
DR, ...) depends on that agent's own state, which is not recorded: its gate,
validation and approval rule are re-run, not the proposal itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runtime.config import site
from runtime.config.model import SiteConfig
from runtime.decide import step as decision
from runtime.decide.policy import peak_shaving
from runtime.log import records
from runtime.log.eventlog import Event, EventLog
from safety import CommandKind, evaluate
from simulator import validate_plan


@dataclass(frozen=True, slots=True, kw_only=True)
class Difference:
    dispatch_id: str
    decision: str  # policy | gate | validation | approval_rule
    recorded: str
    replayed: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayResult:
    dispatches: int
    decisions: int
    differences: list[Difference]
    skipped: list[str]  # dispatches whose inputs were not recorded (older log versions)
    proposal_not_rerun: list[str] = field(default_factory=list)  # other agents' proposals


def _configs(log: EventLog) -> dict[str, SiteConfig]:
    out: dict[str, SiteConfig] = {}
    for event in log.events(kinds=("runtime.started",)):
        body, sha = event.payload.get("config"), event.payload.get("config_sha")
        if body is not None and sha is not None and sha not in out:
            out[str(sha)] = SiteConfig.model_validate(body)
    return out


def _chains(log: EventLog, since: datetime, until: datetime) -> Iterator[list[Event]]:
    kinds = ("dispatch.proposed",)
    for proposed in log.events(kinds=kinds, since=since, until=until):
        assert proposed.dispatch_id is not None
        yield list(log.events(dispatch_id=proposed.dispatch_id))


def replay(
    log: EventLog, since: datetime, until: datetime, *, config: SiteConfig | None = None
) -> ReplayResult:
    configs = _configs(log)
    diffs: list[Difference] = []
    skipped: list[str] = []
    not_rerun: list[str] = []
    dispatches = decisions = 0
    for chain in _chains(log, since, until):
        proposed = chain[0]
        did = str(proposed.dispatch_id)
        p = proposed.payload
        cfg = config or configs.get(str(p.get("config_sha")))
        if cfg is None or "snapshot" not in p:
            skipped.append(did)
            continue
        dispatches += 1
        if p.get("policy") != "peak_shaving":
            not_rerun.append(did)
        n, found = _replay_one(did, chain, cfg, _escalated(log, proposed))
        decisions += n
        diffs.extend(found)
    return ReplayResult(
        dispatches=dispatches,
        decisions=decisions,
        differences=diffs,
        skipped=skipped,
        proposal_not_rerun=not_rerun,
    )


def _escalated(log: EventLog, proposed: Event) -> bool:
    """Whether the agent behind the proposal had escalated (every proposal to a human):
    its ``agent.decided`` event of the same instant lists the dispatch."""
    return any(
        e.payload.get("escalated") and proposed.dispatch_id in e.payload.get("proposals", [])
        for e in log.events(kinds=("agent.decided",), since=proposed.ts, until=proposed.ts)
    )


def _first(chain: list[Event], kind: str, **match: Any) -> Event | None:
    for e in chain:
        if e.kind == kind and all(e.payload.get(k) == v for k, v in match.items()):
            return e
    return None


def _replay_one(
    did: str, chain: list[Event], cfg: SiteConfig, escalated: bool
) -> tuple[int, list[Difference]]:
    proposed = chain[0]
    p = proposed.payload
    now = proposed.ts
    snapshot = records.snapshot_from(p["snapshot"])
    command = records.command_from(p["command"])
    diffs: list[Difference] = []

    def differ(decision: str, recorded: str, replayed: str) -> None:
        if recorded != replayed:
            diffs.append(
                Difference(dispatch_id=did, decision=decision, recorded=recorded, replayed=replayed)
            )

    # 1. the policy (the peak-shaving rule only: a pure function of the recorded snapshot)
    count = 0
    if p.get("policy") == "peak_shaving":
        policy = cfg.policy.peak_shaving
        again = peak_shaving(
            snapshot,
            policy,
            site_id=cfg.site.id,
            meter=cfg.feeder.meter,
            max_discharge_kw=cfg.battery(policy.battery).max_discharge_kw,
            last_setpoint_kw=float(p["last_setpoint_kw"]),
            now=now,
        )
        replayed = (
            f"{again[0].command.asset} {again[0].command.value:g} kW" if again else "no proposal"
        )
        differ("policy", f"{command.asset} {command.value:g} kW", replayed)
        count += 1

    # 2. the gate, on the recorded command (not the replayed one: one decision at a time)
    # with the history and forecast it recorded, compared exactly: value, hits, numbers, reasons
    gated = _first(chain, "dispatch.gated", recheck=False)
    if gated is not None:
        g = gated.payload
        (verdict,) = evaluate(
            [command],
            snapshot,
            site.envelope(cfg),
            gated.ts,
            history=records.history_from(g["history"]),
            forecast=records.forecast_from(g["forecast"]),
        )
        body = records.verdict_body(verdict)
        differ(
            "gate",
            *_verdict_texts(
                {k: g[k] for k in ("outcome", "value", "constraints")},
                {**body, "constraints": [h.model_dump() for h in body["constraints"]]},
            ),
        )
        count += 1

    # 3. plan validation, on the recorded twin state and value (the twin models battery
    # power only: other kinds were recorded as not simulated, and are not re-run)
    sim = _first(chain, "dispatch.simulated")
    if (
        command.kind is CommandKind.ACTIVE_POWER_KW
        and sim is not None
        and sim.payload.get("twin_state")
        and sim.payload.get("value") is not None
    ):
        value = float(sim.payload["value"])
        twin = records.twin_from(sim.payload["twin_state"])
        cmd = records.command_from({**p["command"], "value": value})
        report = validate_plan([cmd], twin, site.twin_feeder(cfg), now, cmd.end - cmd.start)
        differ(
            "validation",
            f"ok={sim.payload['ok']} violations={len(sim.payload['violations'])}",
            f"ok={report.ok} violations={len(report.violations)}",
        )
        count += 1

    # 4. the approval rule, on the gated value: kW, or the kW a curtailment sheds
    rule = _first(chain, "approval.auto") or _first(chain, "approval.requested")
    if rule is not None and sim is not None and sim.payload.get("value") is not None:
        need, _kw = decision.approval_requirement(
            cfg, command, float(sim.payload["value"]), snapshot, escalated=escalated
        )
        differ("approval_rule", str(rule.payload["requirement"]), need.value)
        count += 1
    return count, diffs


def _verdict_texts(recorded: dict[str, Any], replayed: dict[str, Any]) -> tuple[str, str]:
    """Short texts of two verdict bodies; the whole bodies where only the details differ."""
    if _canonical(recorded) == _canonical(replayed):
        return "same", "same"
    texts = []
    for body in (recorded, replayed):
        hits = ",".join(sorted(str(h["constraint"]) for h in body["constraints"]))
        texts.append(f"{body['outcome']} {_kw(body['value'])} [{hits}]")
    if texts[0] == texts[1]:  # same outcome, value and ids: a number or a reason changed
        return _canonical(recorded), _canonical(replayed)
    return texts[0], texts[1]


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _kw(value: object) -> str:
    return "-" if value is None else f"{float(value):g} kW"  # type: ignore[arg-type]

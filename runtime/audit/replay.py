"""Replay: re-run the decision on the inputs the log recorded.

For every dispatch proposed in a time window: the policy (``peak_shaving``) on the
recorded snapshot and last setpoint, then the conductor's own decision step
(``runtime.decide.step.decide_step``) on the recorded proposal and snapshot, with the
dispatch history and forecast recorded in ``dispatch.gated``: the gate's verdict
(compared exactly), the plan's validation on the twin and the approval rule (on the kW
a curtailment sheds, as in production), each with the site config the run used
(recorded in ``runtime.started``) or a candidate config. Every decision that comes out
different is listed. A proposal by another agent (operator intent, PV curtailment,
DR, ...) depends on that agent's own state, which is not recorded: its gate,
validation and approval rule are re-run, not the proposal itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from runtime.config.model import SiteConfig
from runtime.decide import gate_inputs
from runtime.decide import step as decision
from runtime.decide.policy import Proposal, peak_shaving
from runtime.log import events as ev
from runtime.log import records
from runtime.log.eventlog import Event, EventLog, M
from safety import CommandKind


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
        started = event.as_(ev.RuntimeStarted)
        body, sha = started.config, started.config_sha
        if body is not None and sha is not None and sha not in out:
            out[sha] = SiteConfig.model_validate(body)
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
    caps = _caps(log)
    for chain in _chains(log, since, until):
        proposed = chain[0]
        did = str(proposed.dispatch_id)
        p = proposed.as_(ev.DispatchProposed)
        cfg = config or configs.get(str(p.config_sha))
        if cfg is None:
            skipped.append(did)
            continue
        dispatches += 1
        if p.policy != "peak_shaving":
            not_rerun.append(did)
        n, found = _replay_one(did, chain, cfg, _escalated(log, proposed), caps)
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
    decided = (
        e.as_(ev.AgentDecided)
        for e in log.events(kinds=("agent.decided",), since=proposed.ts, until=proposed.ts)
    )
    return any(d.escalated and proposed.dispatch_id in d.proposals for d in decided)


# (when, the peak-shaving threshold the site's controller link set, valid until)
Caps = list[tuple[datetime, float, datetime | None]]
HIERARCHY = ("hierarchy.cap_applied", "hierarchy.controller_lost", "hierarchy.controller_back")


def _caps(log: EventLog) -> Caps:
    """The threshold a hierarchy controller's cap set, each time it changed (recorded by
    the site link: a cap applied, the controller lost or back)."""
    return [
        (
            e.ts,
            float(e.payload["threshold_kw"]),
            datetime.fromisoformat(str(e.payload["valid_until"]))
            if e.kind == "hierarchy.cap_applied"
            else None,
        )
        for e in log.events(kinds=HIERARCHY)
    ]


def _threshold_at(caps: Caps, at: datetime, local_kw: float) -> float:
    """The threshold the conductor decided with at ``at``: its config's, or the one a cap
    in force had set (never higher than the config's)."""
    current: tuple[datetime, float, datetime | None] | None = None
    for entry in caps:
        if entry[0] > at:
            break
        current = entry
    if current is None or (current[2] is not None and at >= current[2]):
        return local_kw
    return min(local_kw, current[1])


def _first(chain: list[Event], model: type[M]) -> M | None:
    """The chain's first event of ``model``'s kind, typed (a gate re-check is not the
    decision: ``dispatch.gated`` with ``recheck`` is skipped)."""
    kind = model.model_fields["kind"].default
    for e in chain:
        if e.kind == kind:
            typed = e.as_(model)
            if not getattr(typed, "recheck", False):
                return typed
    return None


def _replay_one(
    did: str, chain: list[Event], cfg: SiteConfig, escalated: bool, caps: Caps
) -> tuple[int, list[Difference]]:
    proposed = chain[0]
    p = proposed.as_(ev.DispatchProposed)
    now = proposed.ts
    snapshot = records.snapshot_of(p.snapshot)
    command = records.command_of(p.command)
    diffs: list[Difference] = []

    def differ(decision: str, recorded: str, replayed: str) -> None:
        if recorded != replayed:
            diffs.append(
                Difference(dispatch_id=did, decision=decision, recorded=recorded, replayed=replayed)
            )

    # 1. the policy (the peak-shaving rule only: a pure function of the recorded snapshot)
    count = 0
    if p.policy == "peak_shaving":
        policy = cfg.policy.peak_shaving
        capped = _threshold_at(caps, now, policy.threshold_kw)
        if capped != policy.threshold_kw:  # under a controller's cap, as recorded
            policy = policy.model_copy(update={"threshold_kw": capped})
        again = peak_shaving(
            snapshot,
            policy,
            site_id=cfg.site.id,
            meter=cfg.feeder.meter,
            max_discharge_kw=cfg.battery(policy.battery).max_discharge_kw,
            last_setpoint_kw=p.last_setpoint_kw,
            now=now,
        )
        replayed = (
            f"{again[0].command.asset} {again[0].command.value:g} kW" if again else "no proposal"
        )
        differ("policy", f"{command.asset} {command.value:g} kW", replayed)
        count += 1

    # 2-4. the decision step, on the recorded proposal (not the replayed one: one decision
    # at a time) with the gate inputs it recorded: the verdict (compared exactly: value,
    # hits, numbers, reasons), the twin's validation and the approval rule
    gated = _first(chain, ev.DispatchGated)
    proposal = Proposal(
        command=command, policy=p.policy, rationale=p.rationale, escalated=escalated
    )
    inputs = gate_inputs.replayed(gated) if gated is not None else None
    d = decision.decide_step(proposal, snapshot, inputs, _context(cfg), now)
    if gated is not None:
        body = records.verdict_body(d.verdict)
        differ(
            "gate",
            *_verdict_texts(
                gated.model_dump(mode="json", include={"outcome", "value", "constraints"}),
                {**body, "constraints": [h.model_dump(mode="json") for h in body["constraints"]]},
            ),
        )
        count += 1

    # the twin models battery power only: other kinds were recorded as not simulated
    sim = _first(chain, ev.DispatchSimulated)
    if (
        command.kind is CommandKind.ACTIVE_POWER_KW
        and sim is not None
        and sim.twin_state is not None
        and sim.value is not None
    ):
        report = d.validation
        differ(
            "validation",
            f"ok={sim.ok} violations={len(sim.violations)}",
            f"ok={report.ok} violations={len(report.violations)}"
            if report is not None
            else "not validated (the gate rejected it)",
        )
        count += 1

    rule = _first(chain, ev.ApprovalAuto) or _first(chain, ev.ApprovalRequested)
    if rule is not None and sim is not None and sim.value is not None:
        replayed = d.requirement.value if d.requirement is not None else "none (rejected)"
        differ("approval_rule", rule.requirement, replayed)
        count += 1
    return count, diffs


_CONTEXTS: dict[int, tuple[SiteConfig, decision.DecisionContext]] = {}


def _context(cfg: SiteConfig) -> decision.DecisionContext:
    """The decision context of a config, built once per config (the network loaded once;
    none when the recorded network file is not on this machine: no power-flow check)."""
    held = _CONTEXTS.get(id(cfg))
    if held is None or held[0] is not cfg:
        network = cfg.feeder.network
        with_grid = network is not None and Path(network).is_file()
        held = (cfg, decision.DecisionContext.from_config(cfg, with_grid=with_grid))
        if len(_CONTEXTS) > 16:
            _CONTEXTS.clear()
        _CONTEXTS[id(cfg)] = held
    return held[1]


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

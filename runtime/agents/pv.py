"""PV curtailment for over-voltage: curtail in steps while the watched bus is above its
limit, release in steps once it is back below the limit minus a margin (hysteresis).

The voltage comes from the perception (a measured bus point, see ``safety.buses``);
without it the agent has zero confidence and proposes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from runtime.agents.base import Decision, Perception
from runtime.config.model import SiteConfig
from runtime.config.site import point_id
from runtime.decide.policy import Proposal, command_key
from safety import Command, CommandKind, Origin


class PvCurtailAgent:
    name = "pv_curtailment"

    def decide(self, perception: Perception, config: SiteConfig, now: datetime) -> Decision:
        cfg = config.agents.pv_curtailment
        if cfg is None:
            return Decision(rationale="not configured")
        bus = next(b for b in config.safety.buses if b.id == cfg.bus)
        max_pu = cfg.max_pu if cfg.max_pu is not None else bus.max_pu
        voltage_pu = perception.voltages_pu.get(cfg.bus)
        if voltage_pu is None:
            return Decision(confidence=0.0, rationale=f"no voltage measured at {cfg.bus}: hold")
        reading = perception.snapshot.get(point_id(cfg.pv, "curtail_pct"))
        current = reading.value if reading is not None else perception.setpoints.get(cfg.pv, 0.0)
        if voltage_pu > max_pu:
            target = min(100.0, current + cfg.step_pct)
            why = f"{cfg.bus} at {voltage_pu:.3f} pu > {max_pu:.3f} pu: curtail {cfg.pv}"
        elif voltage_pu < max_pu - cfg.release_margin_pu and current > 0:
            target = max(0.0, current - cfg.step_pct)
            why = (
                f"{cfg.bus} at {voltage_pu:.3f} pu < {max_pu - cfg.release_margin_pu:.3f} pu: "
                f"release {cfg.pv}"
            )
        else:
            return Decision(rationale=f"{cfg.bus} at {voltage_pu:.3f} pu: no change")
        if target == current:
            return Decision(rationale=f"{why}: already at {current:g}%")
        command = Command(
            key=command_key(config.site.id, cfg.pv, now),
            asset=cfg.pv,
            kind=CommandKind.CURTAIL_PCT,
            value=target,
            start=now,
            end=now + timedelta(seconds=cfg.command_duration_s),
            origin=Origin.AGENT,
        )
        rationale = f"{why} from {current:g}% to {target:g}%"
        proposal = Proposal(
            command=command,
            policy="pv_curtailment",
            rationale=rationale,
            inputs={"voltage_pu": voltage_pu, "max_pu": max_pu, "curtail_pct": current},
        )
        return Decision(proposals=(proposal,), rationale=rationale)

"""The approval rule, pure: how many operators must sign off a gated command.

Sizes are compared in kW: a battery setpoint's kW, or the kW a PV or load curtailment
sheds at the gated percent (``config.site.curtail_kw``, from the snapshot). A size that
cannot be known goes to an operator, and so does an escalated agent's proposal.
"""

from __future__ import annotations

from enum import StrEnum

from runtime.config import site
from runtime.config.model import ApprovalsConfig, SiteConfig
from safety import Command, CommandKind, StateSnapshot

NEEDED = {"auto": 0, "one_operator": 1, "two_operators": 2}  # grants per requirement
REQUESTED = "approval.requested"  # the event that records the rule a request was made under


class Requirement(StrEnum):
    AUTO = "auto"
    ONE_OPERATOR = "one_operator"
    TWO_OPERATORS = "two_operators"

    @property
    def approvers(self) -> int:
        return NEEDED[self.value]


def requirement(value_kw: float, config: ApprovalsConfig) -> Requirement:
    """Below the auto threshold: automatic; at or above the second threshold: two people."""
    magnitude = abs(value_kw)
    if magnitude <= config.auto_approve_max_kw:
        return Requirement.AUTO
    if magnitude >= config.two_person_min_kw:
        return Requirement.TWO_OPERATORS
    return Requirement.ONE_OPERATOR


def approval_kw(
    config: SiteConfig, command: Command, value: float, snapshot: StateSnapshot
) -> float | None:
    """The kW the approval thresholds compare for ``command`` at its gated ``value``: a
    setpoint's kW, or the kW a curtailment sheds (``site.curtail_kw``); None when unknown."""
    if command.kind is CommandKind.CURTAIL_PCT:
        return site.curtail_kw(config, command.asset, value, snapshot)
    return value


def approval_requirement(
    config: SiteConfig,
    command: Command,
    value: float,
    snapshot: StateSnapshot,
    *,
    escalated: bool = False,
) -> tuple[Requirement, float | None]:
    """The rule with the kW it compared: a size that cannot be known goes to an operator,
    and so does an escalated agent's proposal."""
    kw = approval_kw(config, command, value, snapshot)
    need = (
        requirement(kw, config.approvals)
        if kw is not None
        else Requirement.ONE_OPERATOR  # its size is unknown: a human decides
    )
    if escalated and need is Requirement.AUTO:
        need = Requirement.ONE_OPERATOR  # repeated rejections: a human decides
    return need, kw


def stricter(granted: str | None, need: Requirement | None, kw: float | None) -> str:
    """Why ``need`` (the rule on fresh state, at approval) takes more operators than the
    request was made under (``granted``: its recorded requirement); '' when it does not."""
    if granted is None or need is None or need.approvers <= NEEDED.get(granted, 0):
        return ""
    size = "size unknown" if kw is None else f"{kw:g} kW"
    return f"the plan now needs {need.value} ({size}), requested as {granted}"

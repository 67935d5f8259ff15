"""Agents: decision loops that propose; the gate, the simulator and approvals decide.

See docs/agents.md. ``AgentSet`` is what the conductor runs each cycle.
"""

from runtime.agents.base import (
    Agent,
    AgentRunner,
    AgentStats,
    Decision,
    Flag,
    Perception,
    Step,
)
from runtime.agents.dr import DrAccepted, DrRejected, accept_dr_event
from runtime.agents.inputs import DrEvent, OperatorRequest
from runtime.agents.intent import interpret
from runtime.agents.shell import AgentSet, Factories

__all__ = [
    "Agent",
    "AgentRunner",
    "AgentSet",
    "AgentStats",
    "Decision",
    "DrAccepted",
    "DrEvent",
    "DrRejected",
    "Factories",
    "Flag",
    "OperatorRequest",
    "Perception",
    "Step",
    "accept_dr_event",
    "interpret",
]

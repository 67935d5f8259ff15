"""Grid simulator: network model, power flow, scenarios, device models, plan validation,
and the virtual field."""

from simulator.devices import AppliedCommand, BatterySpec, FieldSpec, MeterSpec, ProfileSpec
from simulator.field import NAMESPACE_URI, VirtualField
from simulator.matpower import load_matpower, parse_matpower
from simulator.network import (
    BatterySpecNet,
    FlexLoadSpec,
    LoadSpec,
    Network,
    NetworkError,
    PvSpec,
)
from simulator.netyaml import load_network, load_network_yaml
from simulator.powerflow import BatchResult, PowerFlowResult, prepare, solve, solve_batch
from simulator.scenario import Scenario, ScenarioError, load_scenario
from simulator.validate import (
    TwinBattery,
    TwinFeeder,
    TwinState,
    ValidationReport,
    Violation,
    validate_plan,
)

__all__ = [
    "NAMESPACE_URI",
    "AppliedCommand",
    "BatchResult",
    "BatterySpec",
    "BatterySpecNet",
    "FieldSpec",
    "FlexLoadSpec",
    "LoadSpec",
    "MeterSpec",
    "Network",
    "NetworkError",
    "PowerFlowResult",
    "ProfileSpec",
    "PvSpec",
    "Scenario",
    "ScenarioError",
    "TwinBattery",
    "TwinFeeder",
    "TwinState",
    "ValidationReport",
    "Violation",
    "VirtualField",
    "load_matpower",
    "load_network",
    "load_network_yaml",
    "load_scenario",
    "parse_matpower",
    "prepare",
    "solve",
    "solve_batch",
    "validate_plan",
]

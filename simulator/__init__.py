"""Grid simulator: scenarios, device models, plan validation, and the virtual field."""

from simulator.devices import AppliedCommand, BatterySpec, FieldSpec, MeterSpec, ProfileSpec
from simulator.field import NAMESPACE_URI, VirtualField
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
    "BatterySpec",
    "FieldSpec",
    "MeterSpec",
    "ProfileSpec",
    "Scenario",
    "ScenarioError",
    "TwinBattery",
    "TwinFeeder",
    "TwinState",
    "ValidationReport",
    "Violation",
    "VirtualField",
    "load_scenario",
    "validate_plan",
]

"""Grid simulator: network model, power flow, scenarios, device models, plan validation,
and the virtual field."""

from simulator.devices import (
    AppliedCommand,
    BatterySpec,
    BusVoltageSpec,
    FieldSpec,
    MeterSpec,
    ProfileSpec,
)
from simulator.field import NAMESPACE_URI, VirtualField
from simulator.horizon import ForecastError, GridForecast, GridState
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
from simulator.report import GridReport, GridViolation, Kpis, plot_png
from simulator.scenario import EventKind, Scenario, ScenarioError, ScenarioEvent, load_scenario
from simulator.validate import (
    TwinBattery,
    TwinFeeder,
    TwinState,
    ValidationReport,
    Violation,
    validate_plan,
)
from simulator.validation import forecast_from_scenario, persistence_forecast, validate_dispatch

__all__ = [
    "NAMESPACE_URI",
    "AppliedCommand",
    "BatchResult",
    "BatterySpec",
    "BatterySpecNet",
    "BusVoltageSpec",
    "EventKind",
    "FieldSpec",
    "FlexLoadSpec",
    "ForecastError",
    "GridForecast",
    "GridReport",
    "GridState",
    "GridViolation",
    "Kpis",
    "LoadSpec",
    "MeterSpec",
    "Network",
    "NetworkError",
    "PowerFlowResult",
    "ProfileSpec",
    "PvSpec",
    "Scenario",
    "ScenarioError",
    "ScenarioEvent",
    "TwinBattery",
    "TwinFeeder",
    "TwinState",
    "ValidationReport",
    "Violation",
    "VirtualField",
    "forecast_from_scenario",
    "load_matpower",
    "load_network",
    "load_network_yaml",
    "load_scenario",
    "parse_matpower",
    "persistence_forecast",
    "plot_png",
    "prepare",
    "solve",
    "solve_batch",
    "validate_dispatch",
    "validate_plan",
]

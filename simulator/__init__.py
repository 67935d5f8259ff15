"""Grid simulator: network model, power flow, scenarios, device models, plan validation,
and the virtual field.

Names load from their modules on first use (PEP 562), so ``from simulator import
TwinState`` does not start the OPC UA server's imports (asyncua) nor the SimPy field.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE: dict[str, str] = {
    "AppliedCommand": "simulator.devices",
    "BatchResult": "simulator.powerflow",
    "BatterySpec": "simulator.devices",
    "BatterySpecNet": "simulator.network",
    "BusVoltageSpec": "simulator.devices",
    "EventKind": "simulator.scenario",
    "FieldSpec": "simulator.devices",
    "FlexLoadSpec": "simulator.network",
    "ForecastError": "simulator.horizon",
    "GridForecast": "simulator.horizon",
    "GridReport": "simulator.report",
    "GridState": "simulator.horizon",
    "GridViolation": "simulator.report",
    "Kpis": "simulator.report",
    "LoadSpec": "simulator.network",
    "MeterSpec": "simulator.devices",
    "NAMESPACE_URI": "simulator.field",
    "Network": "simulator.network",
    "NetworkError": "simulator.network",
    "PowerFlowResult": "simulator.powerflow",
    "ProfileSpec": "simulator.devices",
    "PvSpec": "simulator.network",
    "Scenario": "simulator.scenario",
    "ScenarioError": "simulator.scenario",
    "ScenarioEvent": "simulator.scenario",
    "TwinBattery": "simulator.validate",
    "TwinFeeder": "simulator.validate",
    "TwinState": "simulator.validate",
    "ValidationReport": "simulator.validate",
    "Violation": "simulator.validate",
    "VirtualField": "simulator.field",
    "forecast_from_scenario": "simulator.validation",
    "load_matpower": "simulator.matpower",
    "load_network": "simulator.netyaml",
    "load_network_yaml": "simulator.netyaml",
    "load_scenario": "simulator.scenario",
    "parse_matpower": "simulator.matpower",
    "persistence_forecast": "simulator.validation",
    "plot_png": "simulator.report",
    "prepare": "simulator.powerflow",
    "solve": "simulator.powerflow",
    "solve_batch": "simulator.powerflow",
    "validate_dispatch": "simulator.validation",
    "validate_plan": "simulator.validate",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later lookups skip this function
    return value


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

"""Shadow and canary runs: prove a candidate policy or model before it touches the grid.

``run_shadow`` replays a scenario or recorded telemetry through production and a
candidate side by side, in simulated time, with the conductor's decision step;
``canary`` records a candidate's live decisions next to production's.
"""

from runtime.shadow.engine import Mode, ShadowResult, SideResult, run_shadow, run_side
from runtime.shadow.inputs import (
    InputsError,
    ShadowInputs,
    from_history,
    from_scenario,
    parse_range,
)
from runtime.shadow.kpis import Difference, Kpis

__all__ = [
    "Difference",
    "InputsError",
    "Kpis",
    "Mode",
    "ShadowInputs",
    "ShadowResult",
    "SideResult",
    "from_history",
    "from_scenario",
    "parse_range",
    "run_shadow",
    "run_side",
]

"""The one function that gives a request's value its sign from the verb.

Every path (the rules, the LLM slot filler, ``gridaios ask``'s preview, ``--propose``
and the operator-intent agent, the API) turns an action and a number into a
setpoint through :func:`signed_value`; nothing else decides a sign. Site
convention: battery power > 0 is discharge, < 0 is charge; curtailment is a
percentage 0..100 of the asset's output or demand.
"""

from __future__ import annotations

import math

#: Actions a request may carry; ``unknown`` is never turned into a command.
ACTIONS: tuple[str, ...] = (
    "charge",
    "discharge",
    "hold",
    "curtail",
    "stop",
    "standby",
    "release",
    "unknown",
)
POWER_ACTIONS = frozenset({"charge", "discharge", "hold", "stop", "standby", "release"})


class SignError(ValueError):
    """An action the sign rule does not know, or a value that is not a finite number."""


def signed_value(action: str, value: float) -> float:
    """The setpoint for ``action`` with ``value``: the verb decides the sign, never the number.

    charge -> -|value| kW; discharge -> +|value| kW; hold -> value as given (kW,
    its sign says the direction); stop / standby -> 0 kW; release -> 0 (kW on a
    battery, % on a curtailable asset); curtail -> |value| %.
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise SignError(f"value {value!r} is not a finite number")
    if action == "charge":
        return -abs(float(value))
    if action == "discharge":
        return abs(float(value))
    if action == "hold":
        return float(value)
    if action in ("stop", "standby", "release"):
        return 0.0
    if action == "curtail":
        return abs(float(value))
    raise SignError(f"action {action!r} has no setpoint (one of {', '.join(ACTIONS[:-1])})")

"""The read-back: one line an operator confirms before a request is proposed."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from runtime.words.understand import Understood
from runtime.words.vocab import Vocabulary


def read_back(u: Understood, vocab: Vocabulary, zone: ZoneInfo) -> str:
    """One line the operator confirms before anything is proposed."""
    if not u.is_command or u.end is None:
        return u.message
    name = vocab.assets[u.asset].name
    who = f"{u.asset} ({name})" if name else u.asset
    local = u.end.astimezone(zone)
    utc = u.end.astimezone(ZoneInfo("UTC"))
    until = (
        f"until {utc:%H:%M} UTC"
        if local.utcoffset() == utc.utcoffset() and zone.key == "UTC"
        else f"until {local:%H:%M} local ({zone.key}), {utc:%H:%M} UTC"
    )
    if u.end_said == "":
        until += " (default duration)"
    if u.action in ("stop", "standby"):
        what = f"{u.action} {who}: 0 kW"
    elif u.action == "release":
        what = f"release {who}: " + ("curtailment 0 %" if u.unit == "%" else "0 kW")
    elif u.action == "curtail":
        what = f"curtail {who} by {u.value:g} %"
    elif u.action == "hold":
        direction = "discharging" if u.value > 0 else "charging" if u.value < 0 else "idle"
        what = f"hold {who} at {u.value:+g} kW ({direction})"
    else:
        what = f"{u.action} {who} at {abs(u.value):g} kW (setpoint {u.value:+g} kW)"
    return f"{what} {until}"

"""The read-back: one line an operator confirms before a request is proposed."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from runtime.words.understand import Understood
from runtime.words.vocab import Vocabulary


def read_back(u: Understood, vocab: Vocabulary, zone: ZoneInfo, now: datetime | None = None) -> str:
    """One line the operator confirms before anything is proposed.

    With ``now``, an end on a later local day says so ("tomorrow 19:00"): 'until 19:00'
    asked at 19:01 otherwise read back as "until 19:00", a day-long command that looked
    like a short one.
    """
    if not u.is_command or u.end is None:
        return u.message
    name = vocab.assets[u.asset].name
    who = f"{u.asset} ({name})" if name else u.asset
    local = u.end.astimezone(zone)
    utc = u.end.astimezone(ZoneInfo("UTC"))
    day = ""
    if now is not None:
        days = (local.date() - now.astimezone(zone).date()).days
        day = "" if days <= 0 else "tomorrow " if days == 1 else f"{local:%Y-%m-%d} "
    until = (
        f"until {day}{utc:%H:%M} UTC"
        if local.utcoffset() == utc.utcoffset() and zone.key == "UTC"
        else f"until {day}{local:%H:%M} local ({zone.key}), {utc:%H:%M} UTC"
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

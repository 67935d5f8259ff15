"""Amounts in operator requests: a number with its unit, in kW or % curtailed."""

from __future__ import annotations

import re

QTY = re.compile(
    r"(?P<neg>-\s?|minus\s)?(?P<num>\d+(?:\.\d+)?(?:e\d+)?(?:/\d+)?)\s?"
    r"(?P<unit>kilowatts?|kw|megawatts?|mw|watts?|w|percent|pct|per cent)?\b"
)
_FRACTION = re.compile(r"\b(?:by|to|at)?\s?(?P<f>half|a third|one third|a quarter|the whole|all)\b")
_FRACTIONS = {"half": 50.0, "a third": 100 / 3, "one third": 100 / 3, "a quarter": 25.0}


def amount(t: str, action: str, asset_type: str, rated_kw: float | None) -> float | str:
    """The number the operator said, in kW (power) or % curtailed; a message when unreadable."""
    qty = [m for m in QTY.finditer(t) if m["num"]]
    with_unit = [m for m in qty if m["unit"]]
    m = with_unit[0] if with_unit else (qty[0] if len(qty) == 1 else None)
    if action == "curtail":
        level = bool(re.search(r"\b(limit|cap|hold|capped|limited)\b", t)) or bool(
            re.search(r"\b(cut|reduce|drop|turn \S+ down|curtail\w*)\b.*\bto\b", t)
            and "curtailment" not in t
        )
        if m is None:
            f = _FRACTION.search(t)
            if f is None:
                return "by how much? say e.g. 'curtail pv1 by 30 %'"
            if f["f"] in ("the whole", "all"):
                return 100.0
            share = _FRACTIONS[f["f"]]
            return 100 - share if level and f["f"] != "half" else share
        num = _number(m["num"])
        unit = (m["unit"] or "percent").replace("per cent", "percent")
        if unit in ("percent", "pct"):
            return 100 - num if level else num
        kw = _kw(num, unit)
        if rated_kw is None:
            return f"{num:g} {unit}: give a curtailment in percent for this asset"
        return max(0.0, round(100 * (1 - kw / rated_kw), 2)) if level else 100 * kw / rated_kw
    if m is None:
        if re.search(r"\bzero\b", t):
            return 0.0
        return "how much? say e.g. 'discharge bat1 at 100 kW'"
    unit = m["unit"] or "kw"
    if unit in ("percent", "pct", "per cent"):
        return f"{m['num']} percent: give battery power in kW or MW"
    value = _kw(_number(m["num"]), unit)
    return -value if m["neg"] else value


def _number(s: str) -> float:
    if "/" in s:
        a, b = s.split("/")
        return float(a) / float(b) if float(b) else float("nan")
    return float(s)


def _kw(num: float, unit: str) -> float:
    if unit.startswith(("mw", "mega")):
        return num * 1000
    if unit.startswith(("w", "watt")):
        return num / 1000
    return num

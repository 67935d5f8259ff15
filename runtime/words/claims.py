"""A claim checker for rephrased explanations: each claim against the field it refers to.

An LLM may rephrase the deterministic narrative (:mod:`runtime.words.narrate`) only
if every claim in its draft is backed by the record: each number with its unit
must equal a field of the dispatch's events *that the surrounding words refer
to* (the threshold is not the load), the direction (charge / discharge /
curtail) must be the command's, every asset named must be the dispatch's, and
every clock time must be an event's or the command's end. "about 250 kW" is
accepted for a field of 247 kW (within 2 %, only with about / around / roughly /
approximately / ~). Anything unverifiable sends the template instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from runtime.log.eventlog import Event
from runtime.words.narrate import narrate

#: A fact's label -> words that refer to it in a sentence (the nearest word decides).
REFERS: dict[str, tuple[str, ...]] = {
    "setpoint": (
        "setpoint",
        "discharg",
        "charg",
        "curtail",
        "command",
        "dispatch",
        "asked",
        "proposed",
        "sent",
    ),
    "gate": ("gate", "allowed", "clamp", "accepted", "limited to"),
    "threshold": ("threshold", "trigger", "above the", "limit of"),
    "feeder": ("feeder", "load", "demand", "import", "transformer", "substation", "was at"),
    "peak_plan": ("peak", "with the plan", "predicted", "expected", "fall to", "down to"),
    "peak_baseline": ("peak", "without", "baseline", "otherwise", "would have"),
    "verified": ("verified", "read back", "reading back", "measured", "device", "confirmed"),
    "rollback": ("previous", "rollback", "before"),
}
_QTY = re.compile(
    r"(?P<approx>\b(?:about|around|roughly|approximately|nearly|almost|~)\s?)?"
    r"(?P<num>-?\d+(?:\.\d+)?)\s?(?P<unit>kwh|kw|%|percent|pu)(?![a-z])"
)
_TIME = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b")


@dataclass(frozen=True, slots=True)
class Fact:
    label: str
    value: float
    unit: str


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    reason: str


def facts(chain: Sequence[Event]) -> tuple[list[Fact], str, set[str], set[str]]:
    """(facts, direction, assets, HH:MM times in UTC and ``zone`` filled by the caller)."""
    out: list[Fact] = []
    direction = ""
    assets: set[str] = set()
    unit = "kW"
    for e in chain:
        p = e.payload
        if e.compacted:
            continue
        if e.kind == "dispatch.proposed":
            c = p["command"]
            unit = "%" if c["kind"] == "curtail_pct" else "kW"
            value = float(c["value"])
            assets.add(str(c["asset"]))
            direction = (
                "curtail"
                if unit == "%"
                else "discharge"
                if value > 0
                else "charge"
                if value < 0
                else "stop"
            )
            out.append(Fact("setpoint", abs(value), unit))
            out.append(Fact("rollback", float(p.get("rollback_kw", 0.0)), unit))
            for key, v in (p.get("inputs") or {}).items():
                label = (
                    "threshold"
                    if "threshold" in key
                    else "feeder"
                    if any(w in key for w in ("feeder", "load", "import", "net"))
                    else key
                )
                out.append(Fact(label, float(v), "%" if key.endswith("pct") else "kW"))
            for n in re.findall(
                r"(\d+(?:\.\d+)?)\s?kW above the (\d+(?:\.\d+)?)", str(p["rationale"])
            ):
                out.append(Fact("feeder", float(n[0]), "kW"))
                out.append(Fact("threshold", float(n[1]), "kW"))
            m = re.search(
                r"at (\d+(?:\.\d+)?) kW, above the (\d+(?:\.\d+)?) kW", str(p["rationale"])
            )
            if m:
                out.append(Fact("feeder", float(m[1]), "kW"))
                out.append(Fact("threshold", float(m[2]), "kW"))
        elif e.kind == "dispatch.gated" and p.get("value") is not None:
            out.append(Fact("gate", abs(float(p["value"])), unit))
        elif e.kind == "dispatch.simulated":
            out.append(Fact("peak_plan", float(p["peak_kw_plan"]), "kW"))
            out.append(Fact("peak_baseline", float(p["peak_kw_baseline"]), "kW"))
        elif e.kind in ("dispatch.verified", "dispatch.sent"):
            out.append(
                Fact(
                    "verified" if e.kind.endswith("verified") else "setpoint",
                    abs(float(p["value"])),
                    unit,
                )
            )
        elif e.kind == "dispatch.acked":
            out.append(Fact("verified", abs(float(p["readback_kw"])), unit))
    return out, direction, assets, set()


def _times(chain: Sequence[Event], zone: ZoneInfo) -> set[str]:
    found = set()
    for e in chain:
        found |= {f"{e.ts:%H:%M}", f"{e.ts.astimezone(zone):%H:%M}"}
        c = e.payload.get("command") if not e.compacted else None
        if isinstance(c, dict):
            end = datetime.fromisoformat(str(c["end"]))
            found |= {f"{end:%H:%M}", f"{end.astimezone(zone):%H:%M}"}
    return found


def _nearest(text: str, start: int, stop: int) -> set[str]:
    """The labels whose words stand nearest a quantity (within its clause)."""
    before = re.split(r"[;.]\s", text[max(0, start - 60) : start])[-1]
    after = re.split(r"[,;.]\s|[,;.]$", text[stop : stop + 30])[0]
    best: dict[str, int] = {}
    for label, words in REFERS.items():
        for w in words:
            i = before.rfind(w)
            if i >= 0:
                best[label] = min(best.get(label, 999), len(before) - (i + len(w)))
            j = after.find(w)
            if j >= 0:
                best[label] = min(best.get(label, 999), j)
    if not best:
        return set()
    low = min(best.values())
    return {label for label, d in best.items() if d == low}


def check(draft: str, chain: Sequence[Event], zone: ZoneInfo, all_assets: Sequence[str]) -> Check:
    """Each claim of ``draft`` against its field; the first one that fails is the reason."""
    known, direction, assets, _ = facts(chain)
    text = draft.lower()
    for name in all_assets:
        if re.search(rf"\b{re.escape(name.lower())}\b", text) and name not in assets:
            return Check(False, f"names {name}, which this dispatch is not about")
    says_discharge = re.search(r"\bdischarg", text) is not None
    says_charge = re.search(r"(?<!dis)charg(?!e level)", text) is not None
    if direction == "discharge" and says_charge and not says_discharge:
        return Check(False, "says charge; the command was a discharge")
    if direction == "charge" and says_discharge:
        return Check(False, "says discharge; the command was a charge")
    if direction in ("charge", "discharge") and re.search(r"\bcurtail", text):
        return Check(False, "says curtail; the command was battery power")
    times = _times(chain, zone)
    for m in _TIME.finditer(text):
        hhmm = f"{int(m[1]):02d}:{m[2]}"
        if hhmm not in times:
            return Check(False, f"time {hhmm} is not an event's time or the command's end")
    plain = _TIME.sub(" ", text)
    for m in _QTY.finditer(plain):
        value = abs(float(m["num"]))
        unit = {"kw": "kW", "%": "%", "percent": "%", "pu": "pu", "kwh": "kWh"}[m["unit"]]
        tol = 0.02 * value if m["approx"] else 1e-6
        hits = [f for f in known if f.unit == unit and abs(f.value - value) <= max(tol, 1e-6)]
        if not hits:
            return Check(False, f"{m['num']} {unit} matches no field of the record")
        nearest = _nearest(plain, m.start(), m.end())
        if nearest and not any(f.label in nearest for f in hits):
            return Check(
                False,
                f"{m['num']} {unit} is the {hits[0].label}, not the {' or '.join(sorted(nearest))}",
            )
    return Check(True, "every claim matches its field")


def explained(
    chain: Sequence[Event],
    zone: ZoneInfo,
    all_assets: Sequence[str],
    draft: Callable[[str], str] | None = None,
) -> tuple[str, str, str]:
    """(text, source 'template' or 'model', why): the model's rephrasing only when it checks."""
    template = narrate(chain, zone)
    if draft is None:
        return template, "template", "no model asked"
    try:
        text = draft(template).strip()
    except (RuntimeError, ValueError, OSError) as err:
        return template, "template", f"the model failed: {err}"
    verdict = check(text, chain, zone, all_assets)
    if not text or not verdict.ok:
        return template, "template", f"the draft was refused: {verdict.reason}"
    return text, "model", verdict.reason

"""Operator text -> a typed request: a command intent, a question, a refusal or 'not understood'.

The deterministic tier. Steps: normalise (case, punctuation, number words, units),
correct typos against the site's vocabulary (rapidfuzz), put asset ids in place of
names and aliases, refuse requests to bypass the gate or change limits, then read
either a question (what it asks about) or a command (verb, asset, value, end).
Every value gets its sign from :func:`runtime.words.sign.signed_value`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from runtime.words.numbers import normalise
from runtime.words.sign import signed_value
from runtime.words.times import find_end, find_moment
from runtime.words.vocab import KEEP, Vocabulary

Kind = Literal["command", "question", "refused", "unknown"]
Topic = Literal["reading", "why", "pending", "since", "forecast"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Question:
    topic: Topic
    asset: str = ""
    point: str = ""  # reading: soc_pct or p_kw
    at: datetime | None = None  # why / since: the moment asked about (UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Understood:
    """What the request was understood as; ``message`` says why when nothing is proposed."""

    kind: Kind
    text: str
    normalised: str = ""
    action: str = "unknown"
    asset: str = ""
    amount: float = 0.0  # as the operator said it (kW or %), before the verb's sign
    value: float = 0.0  # the setpoint: signed kW, or % curtailed
    unit: str = "kW"
    end: datetime | None = None  # None: the default command duration
    end_said: str = ""  # the words the end came from ("" for the default)
    question: Question | None = None
    message: str = ""
    tier: str = "rules"

    @property
    def is_command(self) -> bool:
        return self.kind == "command"


_Q_START = frozenset(
    [
        "what",
        "what's",
        "whats",
        "why",
        "how",
        "when",
        "when's",
        "whens",
        "is",
        "are",
        "any",
        "anything",
        "which",
        "where",
        "did",
        "has",
        "have",
        "show",
        "tell",
    ]
)
_POLITE = frozenset(
    ["can", "could", "would", "will", "pls", "please", "ok", "okay", "go", "let's", "lets", "i"]
)
_BYPASS = re.compile(
    r"\b(bypass\w*|disable\w*|override|skip\w*|ignore\w*|without|turn off|switch off|wipe|delete|"
    r"erase|suppress)\b.*\b(gate|safety|approv\w*|interlocks?|limits?|checks?|log|audit|alarms?)\b"
    r"|\b(gate|safety|approv\w*|interlocks?)\b.*\b(bypass\w*|disable\w*|off)\b"
)
_APPROVE = re.compile(r"\bapprove\b|\bsign off\b")
_LIMITS = re.compile(
    r"\b(raise|increase|set|change|lower)\b.*\b(limit|max\w*|min\w*|minimum|maximum|ramp|"
    r"soc min|threshold)\b"
)
_READING = re.compile(
    r"\b(soc|state of charge|charged|full|power|output|producing|generating|making|drawing|"
    r"consuming|import\w*|loading|at)\b"
)
_SOC = re.compile(r"\b(soc|state of charge|charged|full|charge level|energy left)\b")
_RELEASE = re.compile(
    r"\b(uncurtail\w*)\b"
    r"|\b(release|lift|end|stop|remove|cancel|clear)\b.*\bcurtail\w*"
    r"|\brelease\b"
    r"|\b(back to|give|hand)\b.*\b(auto|automatic|normal)\b"
)
_VERBS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("stop", re.compile(r"\b(stop|halt|e ?stop|trip)\b")),
    ("standby", re.compile(r"\b(standby|stand by|idle|park)\b")),
    ("hold", re.compile(r"\bhold\b")),
    ("discharge", re.compile(r"\b(discharg\w*|export|feed|push|dump|deliver)\b")),
    ("charge", re.compile(r"\b(charg\w*|soak|absorb|store)\b")),
    (
        "curtail",
        re.compile(
            r"\b(curtail\w*|shed|reduce|cut|drop|limit|cap|throttle|back off|turn \S+ down|"
            r"turn \S+ \S+ down|turn down|down ?rate|trim)\b"
        ),
    ),
)
_QTY = re.compile(
    r"(?P<neg>-\s?|minus\s)?(?P<num>\d+(?:\.\d+)?(?:e\d+)?(?:/\d+)?)\s?"
    r"(?P<unit>kilowatts?|kw|megawatts?|mw|watts?|w|percent|pct|per cent)?\b"
)
_FRACTION = re.compile(r"\b(?:by|to|at)?\s?(?P<f>half|a third|one third|a quarter|the whole|all)\b")
_FRACTIONS = {"half": 50.0, "a third": 100 / 3, "one third": 100 / 3, "a quarter": 25.0}


def verb_of(text: str) -> str:
    """The action the request's own words say ("" when none): the rules and the LLM's check."""
    if _RELEASE.search(text):
        return "release"
    return next((a for a, p in _VERBS if p.search(text)), "")


def _fix_typos(text: str, vocab: Vocabulary) -> str:
    from rapidfuzz import fuzz, process

    known = set(vocab.words) | KEEP | set(vocab.phrases)
    out = []
    for tok in text.split(" "):
        if len(tok) >= 4 and tok.isalpha() and tok not in known:
            best = process.extractOne(tok, vocab.words, scorer=fuzz.ratio, score_cutoff=80)
            if best is not None:
                tok = best[0]
        out.append(tok)
    return " ".join(out)


def _place_assets(text: str, vocab: Vocabulary) -> tuple[str, list[str], list[str]]:
    """Asset ids in place of names; (text, ids found in order, unknown asset-like tokens)."""
    t = f" {text} "
    # a type word and a number: battery 1 -> the battery whose id ends in 1
    unknown: list[str] = []

    def numbered(m: re.Match[str]) -> str:
        word, num = m.group(1), m.group(2)
        for kind, words in (
            ("battery", ("battery", "batt", "bat", "bess")),
            ("pv", ("pv", "solar")),
            ("curtailable_load", ("load",)),
        ):
            if word in words:
                ids = vocab.of_type(kind)
                hit = [i for i in ids if re.sub(r"\D", "", i) == num] or (
                    ids if len(ids) == 1 and num == "1" and not re.search(r"\d", ids[0]) else []
                )
                if hit:
                    return f" {hit[0]} "
                unknown.append(f"{word} {num}")
                return " ?asset "
        return m.group(0)

    t = re.sub(
        r"\b(battery|batt|bat|bess|pv|solar|load)\s?(\d+)\b(?!\.\d|\s?(?:kw|mw|w|percent|pct|kilo|mega|watt))",
        numbered,
        t,
    )
    for phrase in sorted(vocab.phrases, key=len, reverse=True):
        pattern = rf"(?:\bthe\s)?\b{re.escape(phrase)}\b"
        t = re.sub(pattern, f" {vocab.phrases[phrase]} ", t)
    ids = set(vocab.assets)
    found = [tok for tok in t.split() if tok in ids]
    unknown += [tok for tok in t.split() if re.fullmatch(r"[a-z]+\d+", tok) and tok not in ids]
    return " ".join(t.split()), found, unknown


def _question(
    t: str, assets: list[str], vocab: Vocabulary, now: datetime, zone: ZoneInfo
) -> Question | str:
    moment = find_moment(t)
    at = moment.resolve(now, zone, past=True) if moment else None
    first = t.split(" ")[0] if t else ""
    if first == "why":
        return Question(topic="why", asset=assets[0] if assets else "", at=at)
    if re.search(r"\b(pending|waiting|sign ?off|open approvals?|approvals?|queued)\b", t):
        return Question(topic="pending")
    if re.search(r"\b(since|happened|did you do|did the system do)\b", t):
        if at is None:
            return "since when? say e.g. 'what happened since 18:00'"
        return Question(topic="since", at=at)
    if re.search(r"\b(forecast|peak|will)\b", t):
        return Question(topic="forecast")
    if assets:
        asset = assets[0]
        kind = vocab.assets[asset].type
        point = "soc_pct" if kind == "battery" and _SOC.search(t) else "p_kw"
        return Question(topic="reading", asset=asset, point=point)
    return "which asset? name it by id or name (e.g. bat1, the solar farm)"


def _amount(t: str, action: str, asset_type: str, rated_kw: float | None) -> float | str:
    """The number the operator said, in kW (power) or % curtailed; a message when unreadable."""
    qty = [m for m in _QTY.finditer(t) if m["num"]]
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


def understand(
    text: str, vocab: Vocabulary, now: datetime, zone: ZoneInfo, *, default_s: float = 900
) -> Understood:
    raw = text
    t = normalise(text)
    if not re.search(r"[a-z]", t):
        return Understood(
            kind="unknown",
            text=raw,
            normalised=t,
            message="not understood: say what to do, e.g. 'discharge bat1 at 100 kW "
            "until 19:00', or ask, e.g. 'SoC of bat1'",
        )
    t = _fix_typos(t, vocab)
    if _BYPASS.search(t):
        return Understood(
            kind="refused",
            text=raw,
            normalised=t,
            message="refused: the safety gate, approvals, interlocks and the log "
            "cannot be bypassed or switched off by a request; ask for a setpoint "
            "and the gate decides",
        )
    if _LIMITS.search(t):
        return Understood(
            kind="refused",
            text=raw,
            normalised=t,
            message="refused: limits are changed in the site config (and checked "
            "by check-config), not by a request",
        )
    if _APPROVE.search(t):
        return Understood(
            kind="refused",
            text=raw,
            normalised=t,
            message="refused: approvals are granted by another authenticated "
            "person with 'gridaios approvals' or the console, never by the "
            "assistant",
        )
    placed, assets, unknown = _place_assets(t, vocab)
    tokens = placed.split(" ")
    asked = (
        raw.strip().endswith("?")
        or tokens[0] in _Q_START
        or (
            tokens[0] in _POLITE
            and len(tokens) > 1
            and tokens[1] in ("you", "tell", "show")
            and not any(p.search(placed) for _, p in _VERBS)
        )
    )
    verb = verb_of(placed)
    if asked or (not verb and assets and _READING.search(placed)):
        if unknown:
            return Understood(
                kind="refused",
                text=raw,
                normalised=placed,
                message=f"no asset {unknown[0]!r} at this site ({', '.join(vocab.assets)})",
            )
        q = _question(placed, assets, vocab, now, zone)
        if isinstance(q, str):
            return Understood(kind="unknown", text=raw, normalised=placed, message=q)
        return Understood(kind="question", text=raw, normalised=placed, question=q)
    if unknown:
        return Understood(
            kind="refused",
            text=raw,
            normalised=placed,
            message=f"no asset {unknown[0]!r} at this site "
            f"({', '.join(vocab.assets)}); nothing is proposed",
        )
    if not verb:
        return Understood(
            kind="unknown",
            text=raw,
            normalised=placed,
            message="not understood: no command I know (charge, discharge, hold, "
            "curtail, stop, standby, release) and no question",
        )
    if not assets:
        return Understood(
            kind="unknown",
            text=raw,
            normalised=placed,
            action=verb,
            message=f"{verb} which asset? name it ({', '.join(vocab.assets)})",
        )
    asset = assets[0]
    info = vocab.assets[asset]
    curtailable = info.type in ("pv", "curtailable_load")
    action = verb
    if curtailable and action == "hold":
        action = "curtail"
    if info.type == "meter":
        return Understood(
            kind="refused",
            text=raw,
            normalised=placed,
            message=f"{asset} is a meter: it cannot be commanded",
        )
    if curtailable and action in ("charge", "discharge"):
        return Understood(
            kind="refused",
            text=raw,
            normalised=placed,
            message=f"{asset} cannot {action}: it is a {info.type}",
        )
    if curtailable and action in ("stop", "standby"):
        return Understood(
            kind="unknown",
            text=raw,
            normalised=placed,
            action=action,
            message=f"'{action}' on {asset} is ambiguous: say 'curtail {asset} by "
            f"100 %' or 'release {asset}'",
        )
    if not curtailable and action == "curtail":
        return Understood(
            kind="refused",
            text=raw,
            normalised=placed,
            message=f"{asset} is a battery: charge, discharge, hold or stop it",
        )
    end_found = find_end(placed)
    end = end_found.resolve(now, zone) if end_found else None
    end_said = placed[end_found.start : end_found.stop] if end_found else ""
    rest = placed if end_found is None else placed[: end_found.start] + placed[end_found.stop :]
    rest = re.sub(r"\b(" + "|".join(map(re.escape, vocab.assets)) + r")\b", " ", rest)
    amount = 0.0
    if action in ("charge", "discharge", "hold", "curtail"):
        got = _amount(rest, action, info.type, info.rated_kw)
        if isinstance(got, str):
            return Understood(
                kind="unknown",
                text=raw,
                normalised=placed,
                action=action,
                asset=asset,
                message=got,
            )
        amount = got
        if amount != amount:  # NaN from 1/0
            return Understood(
                kind="unknown",
                text=raw,
                normalised=placed,
                action=action,
                asset=asset,
                message="the value is not a number",
            )
    if action == "hold" and re.search(r"\bcharging\b", rest):
        amount = -abs(amount)
    value = signed_value(action, amount)
    unit = "%" if curtailable else "kW"
    if end is None:
        end = now + timedelta(seconds=default_s)
    return Understood(
        kind="command",
        text=raw,
        normalised=placed,
        action=action,
        asset=asset,
        amount=amount,
        value=value,
        unit=unit,
        end=end,
        end_said=end_said,
    )


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

"""Operator text -> a typed request: a command intent, a question, a refusal or 'not understood'.

The deterministic tier. Steps: normalise (case, punctuation, number words, units),
correct typos against the site's vocabulary (rapidfuzz), put asset ids in place of
names and aliases, refuse requests to bypass the gate or change limits, then read
either a question (what it asks about) or a command (verb, asset, value, end).
Every value gets its sign from :func:`runtime.words.sign.signed_value`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from runtime.words.amounts import amount as read_amount
from runtime.words.numbers import normalise
from runtime.words.sign import signed_value
from runtime.words.times import find_end, find_moment
from runtime.words.verbs import VERBS, conflict, verb_of
from runtime.words.vocab import KEEP, Vocabulary

#: The largest value a request may carry (the operator intent's own bound, kW or %).
MAX_VALUE = 100000.0
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
_CLAIMS_APPROVAL = re.compile(
    r"\b(\w*-?approv\w*|sign(?:ed)? ?off|authori[sz]\w*|bypa\w*|by pass\w*|circumvent\w*)\b"
)
_LIMITS = re.compile(
    r"\b(raise|increase|set|change|lower)\b.*\b(limit|max|max_\w*|min|min_\w*|minimum|maximum|ramp|"
    r"soc min|threshold)\b"
)
_READING = re.compile(
    r"\b(soc|state of charge|charged|full|power|output|producing|generating|making|drawing|"
    r"consuming|import\w*|loading|at)\b"
)
_SOC = re.compile(r"\b(soc|state of charge|charged|full|charge level|energy left|percent|pct)\b")
_CLOCKLIKE = re.compile(r"(?<![\d.])\d{1,2}:\d{2}(?![\d.])")


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
    # 'can you discharge bat1 at 100 kW?' is a command said politely, not a question
    polite_command = (
        tokens[0] in ("can", "could", "would", "will")
        and len(tokens) > 2
        and tokens[1] == "you"
        and bool(verb_of(" ".join(tokens[2:4])))
    )
    asked = (
        (raw.strip().endswith("?") and not polite_command)
        or tokens[0] in _Q_START
        or (
            tokens[0] in _POLITE
            and len(tokens) > 1
            and tokens[1] in ("you", "tell", "show")
            and not any(p.search(placed) for _, p in VERBS)
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
    if _CLAIMS_APPROVAL.search(placed):
        return Understood(
            kind="refused",
            text=raw,
            normalised=placed,
            message="refused: a request cannot carry an approval or a sign-off; "
            "approvals are granted by another authenticated person with 'gridaios "
            "approvals' or the console",
        )
    why_not = conflict(placed, verb, vocab)
    if why_not:
        return Understood(kind="refused", text=raw, normalised=placed, message=why_not)
    asset = assets[0]
    info = vocab.assets[asset]
    curtailable = info.type in ("pv", "curtailable_load")
    group = ("pv", "curtailable_load") if curtailable else (info.type,)
    also = sorted({a for a in assets if a != asset and vocab.assets[a].type in group})
    if also:
        # 'discharge bat1 and bat2 at 50 kW' proposed bat1 alone, and said nothing of bat2
        return Understood(
            kind="refused",
            text=raw,
            normalised=placed,
            message=f"one asset per request: {asset} and {', '.join(also)} are named; "
            "ask once for each",
        )
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
    clock = _CLOCKLIKE.search(rest)
    if clock is not None:
        return Understood(
            kind="unknown",
            text=raw,
            normalised=placed,
            action=action,
            asset=asset,
            message=f"I could not read the end time {clock[0]!r}: say e.g. 'until 19:30' "
            "or 'for 45 minutes'; nothing is proposed",
        )
    amount = 0.0
    if action in ("charge", "discharge", "hold", "curtail"):
        got = read_amount(rest, action, info.type, info.rated_kw)
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
        if not math.isfinite(amount) or abs(amount) > MAX_VALUE:  # NaN from 1/0, 1e400
            return Understood(
                kind="unknown",
                text=raw,
                normalised=placed,
                action=action,
                asset=asset,
                message=f"the value {amount:g} is not a setpoint (a finite number up to "
                f"{MAX_VALUE:g}); nothing is proposed",
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

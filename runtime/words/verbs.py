"""The verbs of operator requests, and why a request cannot be read as one command."""

from __future__ import annotations

import re

from runtime.words.amounts import QTY
from runtime.words.vocab import Vocabulary

RELEASE = re.compile(
    r"\b(uncurtail\w*)\b"
    r"|\b(release|lift|end|stop|remove|cancel|clear)\b.*\bcurtail\w*"
    r"|\brelease\b"
    r"|\b(back to|give|hand)\b.*\b(auto|automatic|normal)\b"
)
VERBS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("stop", re.compile(r"\b(stop|halt|e ?stop|trip)\b")),
    ("standby", re.compile(r"\b(standby|stand by|idle|park)\b")),
    ("hold", re.compile(r"\bhold\b")),
    ("discharge", re.compile(r"\b(discharg\w*|disch\w*|export|feed|push|dump|deliver)\b")),
    ("charge", re.compile(r"\b(charg\w*|soak|absorb|store)\b")),
    (
        "curtail",
        re.compile(
            r"\b(curtail\w*|shed|reduce|cut|drop|limit|cap|throttle|back off|turn \S+ down|"
            r"turn \S+ \S+ down|turn down|down ?rate|trim)\b"
        ),
    ),
)
#: A request that says what not to do, or corrects itself, is not read as a command.
_NEGATED = re.compile(
    r"\b(not|never|don'?t|dont|do not|doesn'?t|shouldn'?t|no wait|scratch that|instead|"
    r"rather than)\b"
)
#: A change relative to what the asset does now ("increase ... by 50 kW").
_RELATIVE = re.compile(
    r"\b(increase|raise|boost|bump|lower|decrease|another|extra|additional|more|less)\b"
)
_PUSH_INTO = re.compile(r"\b(feed|push|dump|deliver|export)\b.*\b(into|in to|to)\s(?P<to>\S+)")


def conflict(text: str, verb: str, vocab: Vocabulary) -> str:
    """Why the request cannot be read as one command ("" when it can).

    The verb is picked by a fixed order, so a request with two directions ("charge
    ... instead of discharging", "charge ... and discharge ...", an injected second
    verb) would otherwise become the first verb of that order, whatever was meant.
    """
    if _NEGATED.search(text):
        return (
            "a request that says what not to do (or corrects itself) is not read as a "
            "command: say only what to do, e.g. 'charge bat1 at 50 kW'"
        )
    found = {a for a, p in VERBS if p.search(text)}
    if verb == "release":
        others = found - {"stop", "curtail", "release"}
    elif verb in ("stop", "standby"):
        others = found - {"stop", "standby"}
        if others and not QTY.search(re.sub(r"\b[a-z]+\d+\b", " ", text)):
            others = set()  # 'stop discharging bat1': what it stops
    elif verb == "hold":
        others = found - {"hold", "charge", "discharge"}
        if {"charge", "discharge"} <= found:
            others.add("charge and discharge")
        elif ("charge" in found and re.search(r"(?:^|\s)(?:\+\s?)\d", text)) or (
            "discharge" in found and re.search(r"(?:^|\s)(?:-\s?|minus\s)\d", text)
        ):
            others.add("a sign that contradicts its direction")
    else:
        others = found - {verb}
    if others:
        return (
            f"'{verb}' and {', '.join(sorted(others))} in one request: one command at a "
            "time, said once, e.g. 'charge bat1 at 50 kW'"
        )
    if verb in ("charge", "discharge") and _RELATIVE.search(text):
        return (
            "a change relative to the present setpoint is not read as a command: say "
            "the setpoint, e.g. 'discharge bat1 at 150 kW'"
        )
    into = _PUSH_INTO.search(text)
    target = vocab.assets.get(into["to"]) if into else None
    if verb == "discharge" and into and target is not None and target.type == "battery":
        return (
            f"'{into[1]} ... into {into['to']}' does not say the direction: say "
            f"'charge {into['to']}' or 'discharge {into['to']}'"
        )
    return ""


def verb_of(text: str) -> str:
    """The action the request's own words say ("" when none): the rules and the LLM's check."""
    if RELEASE.search(text):
        return "release"
    return next((a for a, p in VERBS if p.search(text)), "")

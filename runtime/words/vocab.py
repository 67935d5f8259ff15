"""The site's words: asset ids, names and aliases from the config, and the verbs.

Built once per config; used by the rules (exact and fuzzy matching with rapidfuzz)
and by the LLM slot filler (its asset field is an enum of these ids).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from runtime.config.model import PvAsset, SiteConfig

TYPE_WORDS: dict[str, tuple[str, ...]] = {
    "battery": ("battery", "batt", "bess", "bat", "storage battery"),
    "pv": ("solar", "pv", "photovoltaic", "solar farm", "solar plant", "solar park", "the solar"),
    "curtailable_load": ("load", "curtailable load"),
    "meter": ("meter", "grid connection"),
}
#: Words the fuzzy matcher corrects towards: verbs, units, time words and the site's names.
BASE_WORDS: tuple[str, ...] = (
    "charge",
    "charging",
    "discharge",
    "discharging",
    "curtail",
    "curtailing",
    "curtailment",
    "curtailed",
    "release",
    "standby",
    "stop",
    "halt",
    "hold",
    "until",
    "till",
    "minutes",
    "hours",
    "hour",
    "minute",
    "next",
    "percent",
    "kilowatts",
    "kilowatt",
    "megawatts",
    "tomorrow",
    "midnight",
    "quarter",
    "half",
    "battery",
    "solar",
    "pending",
    "forecast",
    "happened",
    "approval",
    "approvals",
    "automatic",
    "uncurtail",
    "immediately",
    "please",
    "reduce",
    "export",
    "absorb",
)
#: Common words that look like a vocabulary word but are not one (no fuzzy correction).
KEEP: frozenset[str] = frozenset(
    [
        "change",
        "changer",
        "changes",
        "changed",
        "charged",
        "chance",
        "hello",
        "thanks",
        "there",
        "their",
        "three",
        "where",
        "whole",
        "holds",
        "holder",
        "older",
        "stock",
        "store",
        "stored",
        "story",
        "start",
        "starting",
        "state",
        "status",
        "small",
        "solar",
        "minus",
        "plus",
        "negative",
        "positive",
        "export",
        "import",
    ]
)
_STOP = frozenset(["with", "from", "the", "and", "for", "of", "at", "to", "kw", "kwh", "mw"])


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetWords:
    id: str
    type: str
    name: str
    rated_kw: float | None = None


@dataclass(frozen=True, slots=True)
class Vocabulary:
    assets: dict[str, AssetWords]
    phrases: dict[str, str]  # normalised phrase -> asset id
    words: tuple[str, ...] = field(default=())

    def of_type(self, kind: str) -> list[str]:
        return [a.id for a in self.assets.values() if a.type == kind]


def _clean(name: str) -> str:
    t = name.lower().replace("-", " ")
    t = re.sub(r"\(.*?\)|\d+(?:\.\d+)?\s*(?:kwh|kw|mw)?|/", " ", t)
    return " ".join(t.split())


def vocabulary(config: SiteConfig) -> Vocabulary:
    """Asset phrases from ids, names, aliases and (when the type is unique) the type's words."""
    assets: dict[str, AssetWords] = {}
    phrases: dict[str, str] = {}
    counts: dict[str, int] = {}
    name_words: dict[str, set[str]] = {}
    for a in config.assets:
        rated = a.rated_kw if isinstance(a, PvAsset) else None
        assets[a.id] = AssetWords(id=a.id, type=a.type, name=a.name, rated_kw=rated)
        counts[a.type] = counts.get(a.type, 0) + 1
        for w in _clean(a.name).split():
            if len(w) >= 5 and w not in _STOP:
                name_words.setdefault(w, set()).add(a.id)
    for w, ids in name_words.items():
        if len(ids) == 1:
            phrases[w] = next(iter(ids))
    for a in config.assets:
        if counts[a.type] == 1:
            for w in TYPE_WORDS.get(a.type, ()):
                phrases[w] = a.id
        if a.type == "meter" and a.id == config.feeder.meter:
            for w in ("substation", "transformer", "grid connection"):
                phrases[w] = a.id
        cleaned = _clean(a.name)
        if cleaned:
            phrases[cleaned] = a.id
        for alias in a.aliases:
            phrases[" ".join(alias.lower().split())] = a.id
        phrases[a.id.lower()] = a.id
    words = set(BASE_WORDS)
    for p in phrases:
        words.update(w for w in p.split() if len(w) >= 4)
    return Vocabulary(assets=assets, phrases=phrases, words=tuple(sorted(words)))

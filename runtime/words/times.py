"""End times and moments in an operator's words, resolved in the site's time zone.

Works on :func:`runtime.words.numbers.normalise`'d text. An end is either a clock
time (24 h, 12 h with am/pm, "half past 7", "quarter to 9", "midnight", "1930
hrs") -- the next such instant after now, or tomorrow's when the request says
so -- or a duration ("for 45 minutes", "for the next half hour"). A 12-hour
time without am/pm is the nearer of its two readings in the right direction
(future for an end, past for a question about what happened).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """A time expression found in the text: what it says and where it is."""

    start: int
    stop: int
    clock: tuple[int, int] | None = None  # (hour, minute) local
    twelve_hour: bool = False  # the hour may be read +12 (no am/pm given)
    tomorrow: bool = False
    minutes: float | None = None  # a duration instead of a clock time

    def resolve(self, now: datetime, zone: ZoneInfo, *, past: bool = False) -> datetime:
        """The UTC instant: the next (or, with ``past``, the last) occurrence in ``zone``."""
        if self.minutes is not None:
            return now + timedelta(minutes=self.minutes)
        assert self.clock is not None
        local = now.astimezone(zone)
        hh, mm = self.clock
        hours = [hh % 12, hh % 12 + 12] if self.twelve_hour else [hh]
        options: list[datetime] = []
        for h in hours:
            base = datetime.combine(local.date(), time(h, mm), tzinfo=zone)
            for days in (-1, 0, 1, 2):
                options.append(base + timedelta(days=days))
        if past:
            return max(o for o in options if o <= local).astimezone(now.tzinfo)
        upcoming = sorted(o for o in options if o > local)
        end = upcoming[0]
        if self.tomorrow and end.date() == local.date():
            end = min(o for o in upcoming if o.date() > local.date())
        return end.astimezone(now.tzinfo)


_AMPM = r"(?:\s?(?P<ampm>am|pm|in the morning|in the evening|tonight|at night))?"
_HHMM = r"(?P<h>\d{1,2})[:.](?P<m>[0-5]\d)"
_MIL = r"(?P<h4>[0-2]\d)(?P<m4>[0-5]\d)(?:\s?(?:hrs|hours|h))?"
_H = r"(?P<hh>\d{1,2})"
_REL = (
    r"(?P<rel>half past|quarter past|quarter to|(?P<mins>\d{1,2})\s(?:minutes\s)?(?P<dir>past|to))"
    r"\s(?P<rh>\d{1,2})"
)
_HALF_H = r"half\s(?P<bh>\d{1,2})"  # British: half eight = 8:30
_WORD = r"(?P<word>midnight|noon|midday)"
_CLOCK = rf"(?:{_WORD}|{_REL}|{_HALF_H}|{_HHMM}|{_MIL}|{_H}(?=\s?(?:am|pm|o'?clock|in the|$|\s)))"
_END = re.compile(
    rf"\b(?P<kw>until|untill|till|til|to|by|before|thru|through)\s"
    r"(?:(?:sunset|sundown|dusk|about|around|roughly|approx\w*)\s(?:at\s)?)?"
    rf"(?:a\s)?{_CLOCK}{_AMPM}"
    r"(?P<tom>\s(?:tomorrow|tmrw|tmr))?"
)
_DURATION = re.compile(
    r"\bfor\s(?:the\s)?(?:next\s)?(?:"
    r"(?P<hm>an?|1)\shour\sand\sa\shalf"
    r"|(?P<halfhour>half\san?\shour|half\shour|1/2\s?h(?:ou)?r?)"
    r"|(?P<n>\d+(?:\.\d+)?|an?)\s?(?P<u>hours|hour|hrs|hr|h|minutes|minute|mins|min|m)\b"
    r"|(?<=next\s)(?P<u1>hour)\b)"
)


def _clock(m: re.Match[str]) -> tuple[tuple[int, int], bool] | None:
    g = m.groupdict()
    ampm = g.get("ampm")
    if g.get("word"):
        return ((12, 0) if g["word"] in ("noon", "midday") else (0, 0)), False
    if g.get("rel"):
        h = int(g["rh"])
        rel = g["rel"]
        if rel == "half past":
            hh, mm = h, 30
        elif rel == "quarter past":
            hh, mm = h, 15
        elif rel == "quarter to":
            hh, mm = h - 1, 45
        elif g.get("dir") == "past":
            hh, mm = h, int(g["mins"])
        else:
            hh, mm = h - 1, 60 - int(g["mins"])
        hh %= 24
    elif g.get("bh"):
        hh, mm = int(g["bh"]), 30
    elif g.get("h") is not None:
        hh, mm = int(g["h"]), int(g["m"])
    elif g.get("h4") is not None:
        hh, mm = int(g["h4"]), int(g["m4"])
    elif g.get("hh") is not None:
        hh, mm = int(g["hh"]), 0
    else:
        return None
    if hh > 24 or mm > 59:
        return None
    if ampm in ("pm", "in the evening", "tonight", "at night"):
        if hh > 12:
            return None
        return ((hh % 12) + 12, mm), False
    if ampm in ("am", "in the morning"):
        if hh > 12:
            return None
        return (hh % 12, mm), False
    return (hh % 24, mm), 1 <= hh <= 12 and g.get("h4") is None and g.get("h") is None


def find_end(text: str) -> Found | None:
    """The request's end: a clock time after until/till/to, or a duration after for."""
    for m in _END.finditer(text):
        if m["kw"] in ("to", "by") and not (m["ampm"] or m["h"] or m["word"] or m["rel"]):
            continue  # 'limit to 300 kw', 'curtail by 40': not times
        read = _clock(m)
        if read is None:
            continue
        (hh, mm), twelve = read
        return Found(
            start=m.start(),
            stop=m.end(),
            clock=(hh, mm),
            twelve_hour=twelve,
            tomorrow=bool(m["tom"]),
        )
    d = _DURATION.search(text)
    if d is not None:
        if d["u1"]:
            minutes = 60.0
        elif d["hm"]:
            minutes = 90.0
        elif d["halfhour"]:
            minutes = 30.0
        else:
            n = 1.0 if d["n"] in ("a", "an") else float(d["n"])
            minutes = n * 60 if d["u"].startswith("h") else n
        return Found(start=d.start(), stop=d.end(), minutes=minutes)
    return None


_AT = re.compile(rf"\b(?:at|since|from|after|around)\s(?:a\s)?{_CLOCK}{_AMPM}")


def find_moment(text: str) -> Found | None:
    """A clock time a question refers to ('at 16:05', 'since 4pm', 'at five past four')."""
    for m in _AT.finditer(text):
        read = _clock(m)
        if read is None:
            continue
        (hh, mm), twelve = read
        return Found(start=m.start(), stop=m.end(), clock=(hh, mm), twelve_hour=twelve)
    return None

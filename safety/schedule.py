"""Checks on when and how often: time windows, rate limits, minimum on/off times.

No value can satisfy these, so they always reject.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache

from safety.envelope import AssetLimits, TimeWindow
from safety.track import Track
from safety.types import Command, CommandKind, ConstraintHit


def time_window_hits(command: Command, limits: AssetLimits, tz: tzinfo) -> list[ConstraintHit]:
    hits: list[ConstraintHit] = []
    for window in limits.time_windows:
        if command.kind not in window.kinds:
            continue
        first = command.start.astimezone(tz).date() - timedelta(days=1)
        spans = _occurrences(window, first, command.end.astimezone(tz).date(), tz)
        if window.forbid:
            clash = next((s for s in spans if s[0] < command.end and command.start < s[1]), None)
            if clash is not None:
                hits.append(
                    _window_hit(
                        command,
                        window,
                        f"overlaps the forbidden window {_fmt_span(clash, tz)}",
                    )
                )
        elif not any(s[0] <= command.start and command.end <= s[1] for s in spans):
            hits.append(
                _window_hit(command, window, f"is outside the allowed window {_daily(window)}")
            )
    return hits


@lru_cache(maxsize=4096)  # a pure function of hashable values: memoised, nothing else
def _occurrences(
    window: TimeWindow, first: date, last: date, tz: tzinfo
) -> tuple[tuple[datetime, datetime], ...]:
    """Occurrences of a daily window from ``first`` to ``last`` (local dates), adjacent merged."""
    spans: list[tuple[datetime, datetime]] = []
    day: date = first
    while day <= last:
        if not window.days or day.isoweekday() in window.days:
            s = datetime.combine(day, window.start, tz)
            e_day = day if window.end > window.start else day + timedelta(days=1)
            e = datetime.combine(e_day, window.end, tz)
            if spans and spans[-1][1] >= s:
                spans[-1] = (spans[-1][0], max(spans[-1][1], e))
            else:
                spans.append((s, e))
        day += timedelta(days=1)
    return tuple(spans)


def _window_hit(command: Command, window: TimeWindow, what: str) -> ConstraintHit:
    why = f" ({window.reason})" if window.reason else ""
    return ConstraintHit(
        constraint=f"time_window.{window.id}",
        reason=(
            f"{command.asset} {command.kind.value} from {command.start.isoformat()} to "
            f"{command.end.isoformat()} {what}{why}"
        ),
    )


def _daily(window: TimeWindow) -> str:
    span = f"{window.start:%H:%M}-{window.end:%H:%M}"
    if window.start == window.end:
        span = "all day"
    if window.days:
        names = "MTWTFSS"
        span += " on " + "".join(names[d - 1] if d in window.days else "." for d in range(1, 8))
    return span


def _fmt_span(span: tuple[datetime, datetime], tz: tzinfo) -> str:
    return f"{span[0].astimezone(tz):%Y-%m-%d %H:%M}-{span[1].astimezone(tz):%H:%M} site time"


def rate_limit_hits(command: Command, limits: AssetLimits, track: Track) -> list[ConstraintHit]:
    rule = limits.rate_limit
    if rule is None:
        return []
    since = command.start - rule.window
    count = bisect_right(track.starts, command.start) - bisect_right(track.starts, since)
    if count + 1 <= rule.max_commands:
        return []
    return [
        ConstraintHit(
            constraint="rate_limit",
            reason=(
                f"{command.asset} would get {count + 1} commands within "
                f"{rule.window.total_seconds():g} s, at most {rule.max_commands} allowed"
            ),
            limit=float(rule.max_commands),
            observed=float(count + 1),
        )
    ]


def min_on_off_hits(command: Command, limits: AssetLimits, track: Track) -> list[ConstraintHit]:
    timing = limits.switch
    if timing is None or command.kind is not CommandKind.SWITCH:
        return []
    want_on = command.value >= 0.5
    if track.switch_on is None or track.switch_on is want_on or track.switch_changed_at is None:
        return []  # no change, or no change inside the history window
    needed = timing.min_on if track.switch_on else timing.min_off
    elapsed = command.start - track.switch_changed_at
    if elapsed >= needed:
        return []
    state = "on" if track.switch_on else "off"
    return [
        ConstraintHit(
            constraint="min_on_off",
            reason=(
                f"{command.asset} has been {state} for {elapsed.total_seconds():g} s at "
                f"{command.start.isoformat()}; it must stay {state} at least "
                f"{needed.total_seconds():g} s"
            ),
            limit=needed.total_seconds(),
            observed=elapsed.total_seconds(),
        )
    ]

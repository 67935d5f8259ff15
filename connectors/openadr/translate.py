"""OpenADR 2.0b events -> gridaios's internal DR event payloads. Pure: no I/O, no clock.

An ``oadrEvent`` (as openleadr parses it into a dict) becomes one internal DR event per
signal interval, so a profile of levels or kW targets is honoured interval by interval:
``<event_id>.<n>`` with ``start``/``end`` from the interval, and either ``signal_level``
(SIMPLE, 0-3) or ``target_kw`` (the feeder-import target in kW). Signals, in order of
preference, when several are present:

- ``LOAD_DISPATCH`` ``setpoint``: the import target itself (kW after the item's SI scale);
- ``LOAD_DISPATCH`` ``delta``: a reduction from the reference load (``reference_kw``);
- ``LOAD_CONTROL`` ``x-loadControlSetpoint``: the import target;
- ``SIMPLE`` / ``simple`` ``level``: the level (0 normal .. 3 special).

Anything else is refused with a reason naming the signal and what is supported; the
shell keeps the raw message. A cancelled event becomes the same ids with ``status:
cancelled`` (the DR agent stops honouring them at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SCALE = {"none": 1e-3, "k": 1.0, "M": 1e3, "G": 1e6, "m": 1e-6}  # SI scale of W -> kW
KW_SIGNALS = (
    ("LOAD_DISPATCH", "setpoint"),
    ("LOAD_DISPATCH", "delta"),
    ("LOAD_CONTROL", "x-loadControlSetpoint"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Interval:
    start: datetime
    end: datetime
    signal_level: int | None = None
    target_kw: float | None = None
    reduction_kw: float | None = None  # what the VTN asks the site to shed (kW), if known


@dataclass(frozen=True, slots=True, kw_only=True)
class OadrEvent:
    """What gridaios takes from one oadrEvent: enough to decide opt-in and to dispatch."""

    event_id: str
    modification: int
    status: str  # far / near / active / completed / cancelled
    program: str  # the market context
    signal: str  # e.g. "LOAD_DISPATCH/setpoint"
    intervals: tuple[Interval, ...]
    response_required: bool

    @property
    def start(self) -> datetime:
        return self.intervals[0].start

    @property
    def end(self) -> datetime:
        return self.intervals[-1].end

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    def commitment_kw(self, level_kw: float) -> float:
        """The largest reduction asked for: kW for kW signals, a share of ``level_kw`` per
        SIMPLE level (1 = 1/3, 2 = 2/3, 3 = all), as the DR agent honours it."""
        out = 0.0
        for iv in self.intervals:
            if iv.reduction_kw is not None:
                out = max(out, iv.reduction_kw)
            elif iv.signal_level is not None:
                out = max(out, level_kw * min(iv.signal_level, 3) / 3)
            elif iv.target_kw is not None:
                out = max(out, level_kw)  # an import target: at most the whole flexibility
        return out

    def energy_kwh(self, level_kw: float) -> float:
        """kW x hours over the event, by the same rule as ``commitment_kw``."""
        total = 0.0
        for iv in self.intervals:
            one = OadrEvent(
                event_id=self.event_id,
                modification=self.modification,
                status=self.status,
                program=self.program,
                signal=self.signal,
                intervals=(iv,),
                response_required=self.response_required,
            )
            total += one.commitment_kw(level_kw) * (iv.end - iv.start).total_seconds() / 3600
        return total

    def internal(self) -> list[dict[str, Any]]:
        """The internal DR event payloads (JSON-ready), one per interval."""
        out: list[dict[str, Any]] = []
        for n, iv in enumerate(self.intervals):
            body: dict[str, Any] = {
                "event_id": f"{self.event_id}.{n}",
                "start": iv.start.isoformat(),
                "end": iv.end.isoformat(),
            }
            if iv.target_kw is not None:
                body["target_kw"] = round(max(iv.target_kw, 0.0), 3)
            else:
                body["signal_level"] = iv.signal_level
            if self.cancelled:
                body["status"] = "cancelled"
            out.append(body)
        return out


@dataclass(frozen=True, slots=True)
class Untranslatable:
    reason: str


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _aware(value: Any, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{what} is not a date-time")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _scale_kw(signal: Any) -> float:
    item = _get(signal, "measurement") or _get(signal, "item_base")
    scale = _get(item, "scale", "none") if item is not None else "k"
    unit = str(_get(item, "unit", "W") if item is not None else "W")
    if unit not in ("W", "KW", "kW"):
        raise ValueError(f"unit {unit}: give the signal's item base in W with an SI scale")
    return SCALE.get(str(scale or "none"), 1e-3) if item is not None else 1.0


def translate_event(event: Any, *, reference_kw: float | None) -> OadrEvent | Untranslatable:
    """One oadrEvent (openleadr's dict) -> ``OadrEvent``, or why it cannot be honoured."""
    try:
        desc = _get(event, "event_descriptor")
        event_id = str(_get(desc, "event_id"))
        signals = _get(event, "event_signals") or []
        if isinstance(signals, dict):
            signals = signals.get("event_signals", [])
        by_kind = {(str(_get(s, "signal_name")), str(_get(s, "signal_type"))): s for s in signals}
        chosen: tuple[str, str] | None = next((k for k in KW_SIGNALS if k in by_kind), None)
        if chosen is None:
            chosen = next(
                (k for k in by_kind if k[0].upper() == "SIMPLE" and k[1] == "level"), None
            )
        if chosen is None:
            names = ", ".join(f"{n}/{t}" for n, t in by_kind) or "none"
            return Untranslatable(
                f"event {event_id}: signals {names} not supported; send SIMPLE/level, "
                "LOAD_DISPATCH/setpoint or delta, or LOAD_CONTROL/x-loadControlSetpoint"
            )
        signal = by_kind[chosen]
        period = _get(event, "active_period")
        cursor = _aware(_get(period, "dtstart"), "active_period.dtstart")
        intervals: list[Interval] = []
        for i, raw in enumerate(_get(signal, "intervals") or []):
            start = _aware(_get(raw, "dtstart", cursor) or cursor, f"interval {i} dtstart")
            duration = _get(raw, "duration")
            if not isinstance(duration, timedelta) or duration <= timedelta(0):
                return Untranslatable(f"event {event_id}: interval {i} has no positive duration")
            payload = float(_get(raw, "signal_payload"))
            end = start + duration
            cursor = end
            if chosen[0].upper() == "SIMPLE":
                level = int(payload)
                if level != payload or not 0 <= level <= 3:
                    return Untranslatable(
                        f"event {event_id}: SIMPLE level {payload} in interval {i}; "
                        "levels are 0, 1, 2 or 3"
                    )
                intervals.append(Interval(start=start, end=end, signal_level=level))
                continue
            kw = payload * _scale_kw(signal)
            if chosen[1] == "delta":
                if reference_kw is None:
                    return Untranslatable(
                        f"event {event_id}: LOAD_DISPATCH delta needs the site's reference "
                        "load, and no meter reading is available; retry when it is"
                    )
                intervals.append(
                    Interval(
                        start=start,
                        end=end,
                        target_kw=max(reference_kw - kw, 0.0),
                        reduction_kw=max(kw, 0.0),
                    )
                )
            else:
                reduction = max(reference_kw - kw, 0.0) if reference_kw is not None else None
                intervals.append(
                    Interval(start=start, end=end, target_kw=kw, reduction_kw=reduction)
                )
        if not intervals:
            return Untranslatable(f"event {event_id}: signal {chosen[0]} has no intervals")
        return OadrEvent(
            event_id=event_id,
            modification=int(_get(desc, "modification_number", 0) or 0),
            status=str(_get(desc, "event_status", "far")),
            program=str(_get(desc, "market_context", "") or ""),
            signal=f"{chosen[0]}/{chosen[1]}",
            intervals=tuple(intervals),
            response_required=str(_get(event, "response_required", "always")) == "always",
        )
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        return Untranslatable(f"event not understood ({err}); check the oadrEvent's fields")

"""OpenADR 3 VEN over the VTN's REST API, on toadr3: programs, events, reports, subscriptions.

Behind the same internal DR event model as the 2.0b VEN (``translate.OadrEvent``):

- ``start``: reads the VTN's programs and keeps those the site is in (by
  ``programName``); with a ``callback_url`` it subscribes to their events
  (``POST /subscriptions``, objects EVENT, operations POST/PUT/DELETE);
- ``poll``: ``GET /events?programID=...`` for each program; a new event or a new
  ``modificationDateTime`` is decided (``decide``), an opted-in one goes to ``submit``
  (the DR inbox); an event that disappears from the VTN (deleted) before its end is
  withdrawn (internal events with ``status: cancelled``). The decision is reported back
  as a report named ``OPT`` (``OPT_IN`` / ``OPT_OUT``: OpenADR 3 has no created-event
  message);
- reports (``USAGE`` of the feeder meter, and what the site offers) are posted with
  toadr3's ``post_report``; one that cannot be delivered is held and posted, in order,
  when the VTN answers again;
- payloads: ``SIMPLE`` -> level 0-3; ``IMPORT_CAPACITY_LIMIT`` -> the feeder-import
  target (``units`` of the payload descriptor: KW, or W); others are refused. A body
  that is not JSON or not an OpenADR 3 event (toadr3's models) is refused, counted and
  kept in the dead-letter store with its raw bytes (kind ``openadr``).

Why toadr3 (not openadr3): it is asyncio on aiohttp like openleadr, so both VENs share
one loop model and HTTP stack, and its typed models check each field (ids, durations);
``openadr3``'s entity models (an independent implementation) check the test VTN.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import toadr3
from pydantic import ValidationError
from toadr3.models import Event, Report

from connectors.deadletter import DeadLetterSink
from connectors.openadr.oadr20b import (
    DEAD_LETTER_KIND,
    MAX_MESSAGE_BYTES,
    Decide,
    OptType,
    Record,
    Submit,
    VenCounts,
    _read_capped,
)
from connectors.openadr.translate import Interval, OadrEvent, Untranslatable

log = logging.getLogger(__name__)
KW = {"KW": 1.0, "W": 1e-3, "MW": 1e3}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _no_record(_kind: str, _data: dict[str, Any]) -> None:
    return None


def translate_event3(
    event: Event, program: str, *, reference_kw: float | None
) -> OadrEvent | Untranslatable:
    """One OpenADR 3 event (toadr3's model) -> ``OadrEvent``, or why it cannot be honoured."""
    try:
        return _translate3(event, program, reference_kw=reference_kw)
    except (IndexError, TypeError, ValueError, OverflowError) as err:
        # toadr3's model admits ``values: []`` or text where a number belongs
        return Untranslatable(
            f"event {event.id or '(no id)'}: payload not understood ({err}); send one "
            "number per payload"
        )


def _translate3(
    event: Event, program: str, *, reference_kw: float | None
) -> OadrEvent | Untranslatable:
    eid = event.id or "(no id)"
    units = "KW"
    for d in event.payload_descriptors or []:
        if d.payload_type == "IMPORT_CAPACITY_LIMIT" and d.units:
            units = d.units.upper()
    if units not in KW:
        return Untranslatable(f"event {eid}: units {units}; send KW or W")
    intervals: list[Interval] = []
    kinds: set[str] = set()
    base = event.interval_period
    cursor: datetime | None = None
    for iv in event.intervals:
        period = iv.interval_period or base
        if period is None or isinstance(period.start, str):
            return Untranslatable(f"event {eid}: interval {iv.id} has no start (intervalPeriod)")
        if period.duration <= timedelta(0):
            return Untranslatable(f"event {eid}: interval {iv.id} has no positive duration")
        start = period.start if iv.interval_period is not None else (cursor or period.start)
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        end = start + period.duration
        cursor = end
        payloads = {p.type: p.values for p in iv.payloads}
        if "IMPORT_CAPACITY_LIMIT" in payloads:
            kinds.add("IMPORT_CAPACITY_LIMIT")
            kw = float(payloads["IMPORT_CAPACITY_LIMIT"][0]) * KW[units]  # type: ignore[arg-type]
            if not math.isfinite(kw):
                return Untranslatable(f"event {eid}: IMPORT_CAPACITY_LIMIT {kw} is not finite")
            reduction = max(reference_kw - kw, 0.0) if reference_kw is not None else None
            intervals.append(Interval(start=start, end=end, target_kw=kw, reduction_kw=reduction))
        elif "SIMPLE" in payloads:
            kinds.add("SIMPLE")
            value = payloads["SIMPLE"][0]
            if not isinstance(value, int | float) or int(value) != value or not 0 <= value <= 3:
                return Untranslatable(f"event {eid}: SIMPLE {value!r}; levels are 0, 1, 2 or 3")
            intervals.append(Interval(start=start, end=end, signal_level=int(value)))
        else:
            names = ", ".join(sorted(payloads)) or "none"
            return Untranslatable(
                f"event {eid}: payloads {names} not supported; send SIMPLE or IMPORT_CAPACITY_LIMIT"
            )
    if not intervals:
        return Untranslatable(f"event {eid}: no intervals")
    modified = event.modification_date_time or event.created_date_time
    return OadrEvent(
        event_id=eid,
        modification=int(modified.timestamp()) if modified else 0,
        status="active",
        program=program,
        signal="/".join(sorted(kinds)),
        intervals=tuple(intervals),
        response_required=True,
    )


class Ven3:
    """An OpenADR 3 VEN: poll (and subscribe to) the VTN, decide, dispatch, report."""

    def __init__(
        self,
        *,
        vtn_url: str,
        client_name: str,
        programs: list[str],
        decide: Decide,
        submit: Submit,
        dead_letters: DeadLetterSink,
        record: Record = _no_record,
        clock: Callable[[], datetime] = _utcnow,
        to_site_time: Callable[[datetime], datetime] = lambda t: t,
        reference_kw: Callable[[], float | None] = lambda: None,
        bearer_token: str | None = None,
        callback_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.vtn_url = vtn_url.rstrip("/")
        self.client_name = client_name
        self.wanted = set(programs)
        self.decide = decide
        self.submit = submit
        self.dead_letters = dead_letters
        self.record = record
        self.clock = clock
        self.to_site_time = to_site_time
        self.reference_kw = reference_kw
        self.callback_url = callback_url
        headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else {}
        self._headers = headers
        self.client = toadr3.ToadrClient(
            self.vtn_url, None, session=session, default_custom_headers=headers
        )
        self.counts = VenCounts()
        self.reachable = False
        self.programs: dict[str, str] = {}  # program id -> name
        self.known: dict[str, OadrEvent] = {}  # event id -> last seen
        self.event_program: dict[str, str] = {}  # event id -> program id, kept after the end
        self.opts: dict[str, OptType] = {}
        self.subscriptions: list[str] = []
        self.held: deque[Report] = deque(maxlen=10_000)

    # --- lifecycle ---------------------------------------------------------------

    async def start(self) -> bool:
        """Find the site's programs and subscribe; False when the VTN cannot be reached."""
        try:
            programs = await self.client.get_programs()
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            self._unreachable(err)
            return False
        except (toadr3.ToadrError, ValidationError, ValueError) as err:
            self._refuse("programs", f"programs not understood ({_first(err)})", b"")
            return False
        self.reachable = True
        self.programs = {
            p.id: p.program_name for p in programs if p.id and p.program_name in self.wanted
        }
        if self.callback_url:
            for pid in self.programs:
                sub = toadr3.models.Subscription.model_validate(
                    {
                        "clientName": self.client_name,
                        "programID": pid,
                        "objectOperations": [
                            {
                                "objects": ["EVENT"],
                                "operations": ["POST", "PUT", "DELETE"],
                                "callbackUrl": self.callback_url,
                            }
                        ],
                    }
                )
                made = await self.client.post_subscription(sub)
                if made.id:
                    self.subscriptions.append(made.id)
        self.record(
            "dr.openadr3.started",
            {"programs": sorted(self.programs.values()), "subscriptions": self.subscriptions},
        )
        return True

    async def close(self) -> None:
        await self.client.close()

    # --- events --------------------------------------------------------------------

    async def poll(self) -> int:
        """One round: every program's events; returns how many events were decided."""
        decided = 0
        seen: set[str] = set()
        unsure: set[str] = set()  # programs whose answer said nothing about their events
        for pid, name in self.programs.items():
            raw = await self._get(f"/events?programID={pid}")
            if raw is None:
                return decided  # unreachable or refused: keep what was accepted
            try:
                items = orjson.loads(raw)
                if not isinstance(items, list):
                    raise ValueError("not a JSON array of events")
            except (orjson.JSONDecodeError, ValueError) as err:
                self._refuse("events", f"not a JSON array of events ({err})", raw)
                unsure.add(pid)  # as in an outage: what was accepted stays
                continue
            for item in items:
                try:
                    event = Event.model_validate(item)
                except ValidationError as err:
                    self._refuse(
                        "events", f"not an OpenADR 3 event ({_first(err)})", orjson.dumps(item)
                    )
                    continue
                found = translate_event3(event, name, reference_kw=self.reference_kw())
                if isinstance(found, Untranslatable):
                    self._refuse("events", found.reason, orjson.dumps(item))
                    continue
                seen.add(found.event_id)
                old = self.known.get(found.event_id)
                if old is not None and old.modification == found.modification:
                    continue
                self.counts.received += 1
                self.known[found.event_id] = found
                self.event_program[found.event_id] = pid
                await self._decide(found, update=old is not None, before=old)
                decided += 1
        now = self.clock()
        for eid, old in list(self.known.items()):
            if eid in seen or self.event_program.get(eid) in unsure:
                continue
            del self.known[eid]
            if self.to_site_time(old.end) > now and self.opts.get(eid) == "optIn":
                self.counts.cancelled += 1
                self._submit(replace(old, status="cancelled"))
                self.record("dr.openadr.cancelled", {"event_id": eid, "version": "3"})
        await self.flush_reports()
        return decided

    async def _decide(
        self, event: OadrEvent, *, update: bool, before: OadrEvent | None = None
    ) -> None:
        opt = await self.decide(event)
        self.opts[event.event_id] = opt
        if opt == "optIn":
            self.counts.opted_in += 1
            self._submit(event)
        else:
            self.counts.opted_out += 1
            if update:
                self._submit(replace(event, status="cancelled"))
        if before is not None and len(before.intervals) > len(event.intervals):
            # the revision dropped intervals: withdraw them (<id>.<n> past its last)
            self._submit(replace(before, status="cancelled"), first=len(event.intervals))
        self.record(
            "dr.openadr.responded",
            {"event_id": event.event_id, "opt": opt, "program": event.program, "version": "3"},
        )
        program_id = next((p for p, n in self.programs.items() if n == event.program), "")
        self.queue_report(
            event.event_id, program_id, "OPT", [("OPT_IN" if opt == "optIn" else "OPT_OUT")]
        )

    def _submit(self, event: OadrEvent, *, first: int = 0) -> None:
        now = self.clock()
        for body in event.internal()[first:]:
            start = self.to_site_time(datetime.fromisoformat(body["start"]))
            end = self.to_site_time(datetime.fromisoformat(body["end"]))
            if end <= now:
                continue
            body["start"], body["end"] = start.isoformat(), end.isoformat()
            self.submit(orjson.dumps(body), f"openadr3:{event.program}")

    # --- reports --------------------------------------------------------------------

    def queue_report(
        self,
        event_id: str,
        program_id: str,
        payload_type: str,
        values: list[Any],
        *,
        resource: str = "feeder",
        report_name: str | None = None,
    ) -> None:
        report = Report.model_validate(
            {
                "programID": program_id,
                "eventID": event_id,
                "clientName": self.client_name,
                "reportName": report_name or payload_type,
                "payloadDescriptors": [{"payloadType": payload_type}],
                "resources": [
                    {
                        "resourceName": resource,
                        "intervalPeriod": {"start": self.clock().isoformat(), "duration": "PT0S"},
                        "intervals": [
                            {"id": 0, "payloads": [{"type": payload_type, "values": values}]}
                        ],
                    }
                ],
            }
        )
        self.held.append(report)
        self.counts.reports_held = len(self.held)

    def report_delivery(
        self, event_id: str, intervals: list[tuple[datetime, timedelta, float, float]]
    ) -> None:
        """An event's M&V: per interval (start, length, delivered kW, shortfall kW), as a
        ``x-DELIVERED_KW`` report with one interval each (payloads: delivered, shortfall)."""
        pid = self.event_program.get(event_id, "")
        rows = [
            {
                "id": n,
                "intervalPeriod": {
                    "start": start.isoformat(),
                    "duration": f"PT{int(length.total_seconds())}S",
                },
                "payloads": [
                    {"type": "x-DELIVERED_KW", "values": [round(delivered, 3)]},
                    {"type": "x-SHORTFALL_KW", "values": [round(short, 3)]},
                ],
            }
            for n, (start, length, delivered, short) in enumerate(intervals)
        ]
        report = Report.model_validate(
            {
                "programID": pid or "unknown",
                "eventID": event_id,
                "clientName": self.client_name,
                "reportName": "x-DELIVERY",
                "payloadDescriptors": [
                    {"payloadType": "x-DELIVERED_KW", "units": "KW"},
                    {"payloadType": "x-SHORTFALL_KW", "units": "KW"},
                ],
                "resources": [{"resourceName": "feeder", "intervals": rows}],
            }
        )
        self.held.append(report)
        self.counts.reports_held = len(self.held)

    def report_usage(self, meter_kw: float | None, flexibility_kw: float | None) -> None:
        """The feeder meter (USAGE, kW) and the flexibility offered, for every known event."""
        for eid, event in self.known.items():
            pid = next((p for p, n in self.programs.items() if n == event.program), "")
            if meter_kw is not None:
                self.queue_report(eid, pid, "USAGE", [round(meter_kw, 3)], report_name="USAGE")
            if flexibility_kw is not None:
                self.queue_report(eid, pid, "x-FLEXIBILITY_KW", [round(flexibility_kw, 3)])

    async def flush_reports(self) -> int:
        sent = 0
        while self.held:
            try:
                await self.client.post_report(self.held[0])
            except (aiohttp.ClientError, TimeoutError, OSError) as err:
                self._unreachable(err)
                break
            except toadr3.ToadrError as err:
                # the VTN refused it: keep the report in the dead-letter store, go on
                self._refuse(
                    "reports",
                    f"report refused by the VTN ({_first(err)})",
                    self.held[0].as_json().encode(),
                )
                self.held.popleft()
                continue
            self.reachable = True
            self.held.popleft()
            sent += 1
            self.counts.reports_sent += 1
        self.counts.reports_held = len(self.held)
        return sent

    # --- HTTP -----------------------------------------------------------------------

    async def _get(self, path: str) -> bytes | None:
        try:
            async with self.client.client_session.get(
                f"{self.vtn_url}{path}", headers=self._headers
            ) as resp:
                # a VTN's answer is read up to MAX_MESSAGE_BYTES, never whole (a hostile or
                # broken VTN streaming without end must not exhaust the site's memory)
                body, too_large = await _read_capped(resp, MAX_MESSAGE_BYTES)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            self._unreachable(err)
            return None
        self.reachable = True
        if too_large:
            self._refuse(
                path, f"answer larger than {MAX_MESSAGE_BYTES} bytes; not read whole", body
            )
            return None
        if status != 200:
            self._refuse(path, f"VTN answered HTTP {status}", body)
            return None
        return body

    def _unreachable(self, err: BaseException) -> None:
        if self.reachable:
            self.counts.outages += 1
            log.warning("OpenADR 3 VTN %s unreachable: %s", self.vtn_url, err)
        self.reachable = False

    def _refuse(self, where: str, reason: str, raw: bytes) -> None:
        self.counts.refused += 1
        line = f"OpenADR 3 {where} from {self.vtn_url}: {reason}"
        log.warning("%s", line)
        try:
            self.dead_letters(DEAD_LETTER_KIND, self.vtn_url, line, raw, self.clock())
        except Exception:
            log.exception("OpenADR 3: dead letter not stored")
        self.record("dr.openadr.refused", {"where": where, "reason": line})


def _first(err: BaseException) -> str:
    if isinstance(err, ValidationError):
        e = err.errors()[0]
        return f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
    return str(err).splitlines()[0][:200] if str(err) else type(err).__name__


__all__ = ["Ven3", "translate_event3"]

"""OpenADR 2.0b VEN on openleadr: register, poll, opt in or out, report, refuse bad input.

``Ven20b`` is openleadr's ``OpenADRClient`` with four things of ours:

- every message from the VTN is schema-checked and, when the VTN's certificate
  fingerprint is pinned (``vtn_fingerprint``), its XML signature must verify with that
  certificate; a malformed, unsigned or wrongly signed message is refused, counted and
  kept in the dead-letter store with its raw bytes (kind ``openadr``);
- an ``oadrDistributeEvent`` is translated (``translate.translate_event``) into the
  internal DR event payloads and handed to ``submit`` (the DR inbox) only once the
  ``decide`` callback has said ``optIn``; the opt type goes back in ``oadrCreatedEvent``.
  A modification is decided again; a cancellation withdraws the internal events;
- telemetry reports (``TELEMETRY_USAGE``: the feeder meter's kW and the flexibility
  offered) are queued; a report that cannot be delivered (VTN down) is held, in order,
  and sent when a poll reaches the VTN again (openleadr alone drops it);
- events already received stay in the DR inbox while the VTN is away: an outage never
  withdraws a commitment.

TLS: with ``ca_file`` (and the VEN's ``cert``/``key``) the session verifies the VTN's
certificate chain; ``vtn_fingerprint`` pins the VTN's signing certificate as OpenADR
2.0b prescribes (the fingerprint exchanged out of band).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, Literal

import aiohttp
import orjson
from openleadr import OpenADRClient, errors, objects
from openleadr.messaging import parse_message, validate_xml_schema, validate_xml_signature

from connectors.deadletter import DeadLetterSink
from connectors.openadr.translate import OadrEvent, Untranslatable, translate_event

log = logging.getLogger(__name__)

OptType = Literal["optIn", "optOut"]
Decide = Callable[[OadrEvent], Awaitable[OptType]]
Submit = Callable[[bytes, str], None]
Record = Callable[[str, dict[str, Any]], None]
Readings = list[tuple[datetime, float]]
DEAD_LETTER_KIND = "openadr"
# an OpenADR 2.0b message is a few kB (a long event profile some 100s of kB): a VTN
# answer larger than this is refused after reading this much, never read whole
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass(slots=True)
class VenCounts:
    received: int = 0
    opted_in: int = 0
    opted_out: int = 0
    cancelled: int = 0
    refused: int = 0  # malformed / unsigned / wrongly signed messages, untranslatable events
    reports_sent: int = 0
    reports_held: int = 0
    outages: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "opted_in": self.opted_in,
            "opted_out": self.opted_out,
            "cancelled": self.cancelled,
            "refused": self.refused,
            "reports_sent": self.reports_sent,
            "reports_held": self.reports_held,
            "outages": self.outages,
        }


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _no_record(_kind: str, _data: dict[str, Any]) -> None:
    return None


class Ven20b(OpenADRClient):  # type: ignore[misc]
    """openleadr's VEN with gridaios's decision, dead letters, held reports and pinning."""

    def __init__(
        self,
        *,
        ven_name: str,
        vtn_url: str,
        decide: Decide,
        submit: Submit,
        dead_letters: DeadLetterSink,
        record: Record = _no_record,
        clock: Callable[[], datetime] = _utcnow,
        reference_kw: Callable[[], float | None] = lambda: None,
        to_site_time: Callable[[datetime], datetime] = lambda t: t,
        ven_id: str | None = None,
        vtn_fingerprint: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        ca_file: str | None = None,
        max_held_reports: int = 10_000,
    ) -> None:
        # openleadr sets its logger to INFO at import (every poll, every reading): our
        # own log says what matters; -v / GRIDAIOS logging config can raise it again
        if logging.getLogger("openleadr").level == logging.INFO:
            logging.getLogger("openleadr").setLevel(logging.WARNING)
        super().__init__(
            ven_name=ven_name,
            vtn_url=vtn_url,
            ven_id=ven_id,
            # openleadr compares fingerprints as strings and computes them in uppercase;
            # the config admits either case (the same certificate)
            vtn_fingerprint=vtn_fingerprint.upper() if vtn_fingerprint else vtn_fingerprint,
            cert=cert,
            key=key,
            ca_file=ca_file,
            show_fingerprint=False,
            allow_jitter=False,
        )
        self.decide = decide
        self.submit = submit
        self.dead_letters = dead_letters
        self.record = record
        self.clock = clock
        self.reference_kw = reference_kw
        self.to_site_time = to_site_time  # the VTN's (wall) time -> the site clock's
        self.counts = VenCounts()
        self.reachable = False
        self.events_seen: dict[str, OadrEvent] = {}
        self.opt_by_event: dict[str, OptType] = {}
        self.held: deque[Any] = deque(maxlen=max_held_reports)
        self._flush_lock = asyncio.Lock()

    # --- events ---------------------------------------------------------------

    async def on_event(self, event: dict[str, Any]) -> OptType:
        return await self._handle(event, update=False)

    async def on_update_event(self, event: dict[str, Any]) -> OptType:
        return await self._handle(event, update=True)

    async def _handle(self, event: dict[str, Any], *, update: bool) -> OptType:
        self.counts.received += 1
        found = translate_event(event, reference_kw=self.reference_kw())
        if isinstance(found, Untranslatable):
            self._refuse("event", found.reason, orjson.dumps(event, default=str))
            return "optOut"
        before = self.events_seen.get(found.event_id)
        self.events_seen[found.event_id] = found
        if found.cancelled:
            self.counts.cancelled += 1
            self._submit(found)  # withdraw what was accepted; no-op when nothing was
            self._withdraw_dropped(before, found)
            self.record(
                "dr.openadr.cancelled",
                {"event_id": found.event_id, "modification": found.modification},
            )
            return self.opt_by_event.get(found.event_id, "optOut")
        opt = await self.decide(found)
        self.opt_by_event[found.event_id] = opt
        if opt == "optIn":
            self.counts.opted_in += 1
            self._submit(found)
        else:
            self.counts.opted_out += 1
            if update:  # opted in before, out now: withdraw the earlier intervals
                self._submit(_cancelled(found))
        self._withdraw_dropped(before, found)
        self.record(
            "dr.openadr.responded",
            {
                "event_id": found.event_id,
                "modification": found.modification,
                "opt": opt,
                "program": found.program,
                "signal": found.signal,
                "start": found.start.isoformat(),
                "end": found.end.isoformat(),
            },
        )
        return opt

    def _withdraw_dropped(self, before: OadrEvent | None, now: OadrEvent) -> None:
        """A revision with fewer intervals than the one before: withdraw the intervals it
        dropped (``<id>.<n>`` for n past its last), or the DR agent keeps honouring them."""
        if before is not None and len(before.intervals) > len(now.intervals):
            self._submit(_cancelled(before), first=len(now.intervals))

    def _submit(self, event: OadrEvent, *, first: int = 0) -> None:
        now = self.clock()
        for body in event.internal()[first:]:
            start = self.to_site_time(datetime.fromisoformat(body["start"]))
            end = self.to_site_time(datetime.fromisoformat(body["end"]))
            if end <= now:
                continue  # an interval already over: nothing left to honour
            body["start"], body["end"] = start.isoformat(), end.isoformat()
            self.submit(orjson.dumps(body), f"openadr2b:{event.program or 'vtn'}")

    # --- messages from the VTN -------------------------------------------------

    async def _perform_request(self, service: str, message: Any) -> tuple[Any, dict[str, Any]]:
        await self._ensure_client_session()
        url = f"{self.vtn_url}/{service}"
        try:
            async with self.client_session.post(url, data=message) as req:
                status = req.status
                content, too_large = await _read_capped(req, MAX_MESSAGE_BYTES)
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            if self.reachable:
                self.counts.outages += 1
                log.warning("OpenADR VTN %s unreachable: %s", self.vtn_url, err)
            self.reachable = False
            return None, {}
        self.reachable = True
        if too_large:
            self._refuse(
                service, f"answer larger than {MAX_MESSAGE_BYTES} bytes; not read whole", content
            )
            return None, {}
        if status != HTTPStatus.OK:
            self._refuse(service, f"VTN answered HTTP {status}", content)
            return None, {}
        if not content:
            return None, {}
        try:
            tree = validate_xml_schema(content)
            if self.vtn_fingerprint:
                validate_xml_signature(tree, cert_fingerprint=self.vtn_fingerprint)
            message_type, payload = parse_message(content)
        except errors.FingerprintMismatch as err:
            self._refuse(service, f"signed by another certificate ({err})", content)
            return None, {}
        except Exception as err:  # lxml, signxml and the parser raise many kinds
            reason = _why(err, signed=self.vtn_fingerprint is not None)
            self._refuse(service, reason, content)
            return None, {}
        return message_type, payload

    def _refuse(self, where: str, reason: str, raw: bytes) -> None:
        self.counts.refused += 1
        self.counts.reasons[where] = self.counts.reasons.get(where, 0) + 1
        line = f"OpenADR {where} from {self.vtn_url}: {reason}"
        log.warning("%s", line)
        try:
            self.dead_letters(DEAD_LETTER_KIND, self.vtn_url, line, bytes(raw), self.clock())
        except Exception:  # the store failing must not stop the VEN
            log.exception("OpenADR: dead letter not stored")
        self.record("dr.openadr.refused", {"where": where, "reason": line})

    # --- reports: held while the VTN is away -----------------------------------

    async def _report_queue_worker(self) -> None:
        try:
            while True:
                report = await self.pending_reports.get()
                self.held.append(report)
                self.counts.reports_held = len(self.held)
                await self.flush_reports()
        except asyncio.CancelledError:
            return

    async def flush_reports(self) -> int:
        """Send held reports oldest first; stop at the first that does not get through."""
        sent = 0
        async with self._flush_lock:
            while self.held:
                report = self.held[0]
                message = self._create_message(
                    "oadrUpdateReport",
                    ven_id=self.ven_id,
                    request_id=f"r{self.counts.reports_sent + 1}",
                    reports=[report],
                )
                kind, payload = await self._perform_request("EiReport", message)
                if kind != "oadrUpdatedReport":
                    break
                self.held.popleft()
                sent += 1
                self.counts.reports_sent += 1
                if payload.get("cancel_report"):
                    await self.cancel_report(payload["cancel_report"])
            self.counts.reports_held = len(self.held)
        return sent

    async def _poll(self) -> None:
        try:
            await super()._poll()
            if self.reachable and self.held:
                await self.flush_reports()
        except asyncio.CancelledError:
            # only a shutdown cancels a poll job (the loop ending with a poll waiting on the
            # VTN); apscheduler would log it as an ERROR with a traceback: end the job quietly
            log.debug("OpenADR poll cancelled at shutdown")

    # --- reports we offer -------------------------------------------------------

    def offer_reports(
        self,
        *,
        meter_kw: Callable[[], float | None],
        flexibility_kw: Callable[[], float | None],
        delivered_kw: Callable[[], float | None] | None = None,
        sampling: timedelta = timedelta(seconds=10),
        resource_id: str = "feeder",
    ) -> None:
        """TELEMETRY_USAGE: the feeder meter's real power, the flexibility offered and (with
        ``delivered_kw``) the mean kW the last finished event delivered by its M&V."""

        def reading(
            source: Callable[[], float | None],
        ) -> Callable[[], list[tuple[datetime, float]]]:
            def read() -> list[tuple[datetime, float]]:
                value = source()
                return [] if value is None else [(self.clock(), float(value))]

            return read

        sources = [("meter_kw", meter_kw), ("flexibility_kw", flexibility_kw)]
        if delivered_kw is not None:
            sources.append(("delivered_kw", delivered_kw))
        for rid, source in sources:
            self.add_report(
                callback=reading(source),
                resource_id=resource_id,
                r_id=rid,
                report_specifier_id=f"gridaios-{resource_id}",
                measurement="REAL_POWER",
                unit="W",
                scale="k",
                sampling_rate=objects.SamplingRate(
                    min_period=sampling, max_period=sampling * 60, on_change=False
                ),
                report_duration=timedelta(hours=24),
            )


async def _read_capped(response: aiohttp.ClientResponse, cap: int) -> tuple[bytes, bool]:
    """The body, at most ``cap`` bytes; True when there was more (the rest is not read)."""
    if response.content_length is not None and response.content_length > cap:
        return b"", True
    buf = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        buf += chunk
        if len(buf) > cap:
            return bytes(buf[:cap]), True
    return bytes(buf), False


def _cancelled(event: OadrEvent) -> OadrEvent:
    from dataclasses import replace

    return replace(event, status="cancelled")


def _why(err: Exception, *, signed: bool) -> str:
    name = type(err).__name__
    text = str(err).splitlines()[0][:200] if str(err) else name
    if "XMLSyntax" in name or "DocumentInvalid" in name or "schema" in text.lower():
        return f"not a valid OpenADR 2.0b message ({text}); the VTN must send schema-valid XML"
    if signed:
        return (
            f"signature not valid ({name}: {text}); the VTN must sign every message with "
            "the certificate whose fingerprint is pinned (openadr.vtn_fingerprint)"
        )
    return f"message not understood ({name}: {text})"


__all__ = ["DEAD_LETTER_KIND", "Decide", "OptType", "Submit", "Ven20b", "VenCounts"]

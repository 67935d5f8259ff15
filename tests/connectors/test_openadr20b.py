"""The OpenADR 2.0b VEN against openleadr's own VTN (OpenADRServer), over TLS, signed.

The VTN is independent code (openleadr's server) running in the test's loop on a real
port; messages are signed both ways with test certificates, and the VEN pins the VTN's
certificate fingerprint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from openleadr import OpenADRServer
from openleadr.utils import certificate_fingerprint

from connectors.deadletter import MemoryDeadLetters
from connectors.openadr.oadr20b import Ven20b
from connectors.openadr.translate import OadrEvent
from tests.support.mosquitto import free_port
from tests.support.pki import TlsPki, tls_pki
from tests.support.waiting import until

pytestmark = [
    pytest.mark.integration,
    # openleadr (independent code) uses string app keys and deprecated asyncio calls
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning"),
]
VEN_ID = "ven-site-1"


@dataclass
class Vtn:
    server: OpenADRServer
    url: str
    pki: TlsPki
    opts: list[tuple[str, str]] = field(default_factory=list)
    readings: list[tuple[str, float]] = field(default_factory=list)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsPki:
    return tls_pki(tmp_path_factory.mktemp("oadr-pki"), client_cn=VEN_ID)


def _vtn(pki: TlsPki, port: int, *, sign: bool = True) -> Vtn:
    ven_fp = certificate_fingerprint(pki.client.cert.read_text())
    server = OpenADRServer(
        vtn_id="TESTVTN",
        cert=str(pki.server.cert) if sign else None,
        key=str(pki.server.key) if sign else None,
        http_cert=str(pki.server.cert),
        http_key=str(pki.server.key),
        http_ca_file=str(pki.ca.cert),
        http_port=port,
        http_host="127.0.0.1",
        requested_poll_freq=timedelta(seconds=1),
        show_fingerprint=False,
        show_server_cert_domain=False,
        ven_lookup=lambda ven_id: (
            {
                "ven_id": VEN_ID,
                "ven_name": "site-1",
                "fingerprint": ven_fp,
                "registration_id": "reg-1",
            }
            if ven_id == VEN_ID
            else {}
        ),
    )
    vtn = Vtn(server=server, url=f"https://127.0.0.1:{port}/OpenADR2/Simple/2.0b", pki=pki)

    def registration(info: dict[str, Any]) -> tuple[str, str]:
        return VEN_ID, "reg-1"

    def register_report(
        ven_id: str,
        resource_id: str,
        measurement: str,
        unit: str,
        scale: str,
        min_sampling_interval: timedelta,
        max_sampling_interval: timedelta,
    ) -> tuple[Any, timedelta]:
        def got(data: list[tuple[datetime, float]]) -> None:
            vtn.readings.extend((resource_id, v) for _, v in data)

        return got, min_sampling_interval

    server.add_handler("on_create_party_registration", registration)
    server.add_handler("on_register_report", register_report)
    return vtn


async def _outage(vtn: Vtn) -> None:
    """Stop the VTN and every connection to it. aiohttp registers a TLS connection only
    once its handshake completes: one still in its handshake when ``stop()`` closes the
    site registers afterwards, escapes the shutdown and is served on keep-alive for ever
    (seen under load: reports kept arriving at the "stopped" VTN, so none were held).
    From here on a connection that completes its handshake is closed at once."""
    server = vtn.server.app_runner.server
    assert server is not None

    def refuse(_handler: object, transport: asyncio.Transport) -> None:
        transport.close()

    server.connection_made = refuse
    await vtn.server.stop()


@dataclass
class Site:
    ven: Ven20b
    inbox: list[dict[str, Any]] = field(default_factory=list)
    log: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    dead: MemoryDeadLetters = field(default_factory=MemoryDeadLetters)
    answer: str = "optIn"
    meter_kw: float = 1200.0


def _site(vtn: Vtn, *, pin: str | None = None) -> Site:
    holder: dict[str, Site] = {}

    async def decide(event: OadrEvent) -> Any:
        return holder["s"].answer

    dead = MemoryDeadLetters()
    ven = Ven20b(
        ven_name="site-1",
        vtn_url=vtn.url,
        ven_id=VEN_ID,
        decide=decide,
        submit=lambda raw, via: holder["s"].inbox.append(orjson.loads(raw)),
        record=lambda kind, data: holder["s"].log.append((kind, data)),
        dead_letters=dead,
        vtn_fingerprint=pin or certificate_fingerprint(vtn.pki.server.cert.read_text()),
        cert=str(vtn.pki.client.cert),
        key=str(vtn.pki.client.key),
        ca_file=str(vtn.pki.ca.cert),
        reference_kw=lambda: holder["s"].meter_kw,
    )
    site = Site(ven=ven, dead=dead)
    holder["s"] = site
    ven.offer_reports(
        meter_kw=lambda: site.meter_kw,
        flexibility_kw=lambda: 250.0,
        sampling=timedelta(seconds=1),
    )
    return site


@pytest.fixture
async def running(pki: TlsPki) -> AsyncIterator[tuple[Vtn, Site]]:
    port = free_port()
    vtn = _vtn(pki, port)
    await vtn.server.run_async()
    site = _site(vtn)
    await site.ven.run()
    try:
        yield vtn, site
    finally:
        await site.ven.stop()
        await vtn.server.stop()


def _add(
    vtn: Vtn,
    *,
    event_id: str,
    kw: float | None = None,
    level: int | None = None,
    start: datetime | None = None,
    minutes: int = 30,
) -> None:
    start = start or datetime.now(UTC) + timedelta(seconds=5)
    intervals = [
        {
            "dtstart": start,
            "duration": timedelta(minutes=minutes),
            "signal_payload": kw if kw is not None else level,
        }
    ]

    def opted(ven_id: str, event_id: str, opt_type: str) -> None:
        vtn.opts.append((event_id, opt_type))

    if kw is not None:
        vtn.server.add_event(
            VEN_ID,
            "LOAD_DISPATCH",
            "setpoint",
            intervals,
            event_id=event_id,
            callback=opted,
            market_context="oadr://utility/summer-peak",
        )
    else:
        vtn.server.add_event(
            VEN_ID,
            "simple",
            "level",
            intervals,
            event_id=event_id,
            callback=opted,
            market_context="oadr://utility/summer-peak",
        )


async def test_event_accepted_reaches_the_dr_inbox_and_reports_flow(
    running: tuple[Vtn, Site],
) -> None:
    vtn, site = running
    assert site.ven.registration_id == "reg-1"
    _add(vtn, event_id="ev-accept", kw=900.0)
    await until(lambda: ("ev-accept", "optIn") in vtn.opts, 15, "VTN gets optIn")
    body = site.inbox[-1]
    assert body["event_id"] == "ev-accept.0"
    assert body["target_kw"] == pytest.approx(900.0)  # W with scale k -> kW (openleadr default)
    assert site.ven.counts.opted_in == 1
    assert ("dr.openadr.responded", pytest.approx) is not None
    assert any(k == "dr.openadr.responded" and d["opt"] == "optIn" for k, d in site.log)
    await until(lambda: len(vtn.readings) >= 2, 15, "telemetry reports reach the VTN")
    kinds = {rid for rid, _ in vtn.readings}
    assert {v for _, v in vtn.readings} >= {1200.0} or kinds


async def test_opt_out_is_sent_and_nothing_is_dispatched(running: tuple[Vtn, Site]) -> None:
    vtn, site = running
    site.answer = "optOut"
    _add(vtn, event_id="ev-out", level=2)
    await until(lambda: ("ev-out", "optOut") in vtn.opts, 15, "VTN gets optOut")
    assert site.inbox == []
    assert site.ven.counts.opted_out == 1


async def test_modification_and_cancellation_mid_event(running: tuple[Vtn, Site]) -> None:
    vtn, site = running
    start = datetime.now(UTC) - timedelta(minutes=1)  # already running
    _add(vtn, event_id="ev-mod", level=1, start=start)
    await until(lambda: ("ev-mod", "optIn") in vtn.opts, 15, "first opt-in")
    assert site.inbox[-1]["signal_level"] == 1
    # modification: the VTN raises the level (same event, modification_number + 1)
    event = next(e for e in vtn.server.events[VEN_ID] if e.event_descriptor.event_id == "ev-mod")
    event.event_signals[0].intervals[0]["signal_payload"] = 3
    event.event_descriptor.modification_number += 1
    vtn.server.events_updated[VEN_ID] = True
    await until(lambda: site.inbox[-1].get("signal_level") == 3, 15, "modification applied")
    assert site.ven.events_seen["ev-mod"].modification == 1
    # cancellation mid-event: the internal event is withdrawn
    vtn.server.cancel_event(VEN_ID, "ev-mod")
    await until(lambda: site.inbox[-1].get("status") == "cancelled", 15, "cancel reaches inbox")
    assert site.inbox[-1]["event_id"] == "ev-mod.0"
    assert site.ven.counts.cancelled == 1


async def test_vtn_outage_keeps_events_and_holds_reports(pki: TlsPki) -> None:
    port = free_port()
    vtn = _vtn(pki, port)
    await vtn.server.run_async()
    site = _site(vtn)
    await site.ven.run()
    try:
        _add(vtn, event_id="ev-outage", kw=800.0, minutes=60)
        await until(lambda: ("ev-outage", "optIn") in vtn.opts, 15, "opt-in before outage")
        accepted = list(site.inbox)
        await until(lambda: len(vtn.readings) >= 1, 15, "reports flow before outage")
        await _outage(vtn)
        await until(lambda: site.ven.counts.reports_held >= 2, 20, "reports held during outage")
        assert not site.ven.reachable
        assert site.inbox == accepted  # nothing withdrawn: the commitment stands
        held = site.ven.counts.reports_held
        sent = site.ven.counts.reports_sent
        before = len(vtn.readings)
        # the VTN comes back on the same port with its persisted state (what it had agreed)
        vtn2 = _vtn(pki, port)
        old, new = vtn.server.services, vtn2.server.services
        for name in (
            "report_callbacks",
            "registered_reports",
            "requested_reports",
            "created_reports",
        ):
            setattr(new["report_service"], name, getattr(old["report_service"], name))
        for name in ("events", "event_callbacks", "event_opt_types", "completed_event_ids"):
            setattr(new["event_service"], name, getattr(old["event_service"], name))
        await vtn2.server.run_async()
        try:
            await until(
                lambda: site.ven.counts.reports_sent >= sent + held, 20, "held reports sent"
            )
            # every held report arrived, with its readings from the outage
            await until(lambda: len(vtn.readings) >= before + held, 10, "held readings")
        finally:
            await vtn2.server.stop()
    finally:
        await site.ven.stop()
        await vtn.server.stop()


async def test_unsigned_messages_are_refused_and_kept(
    pki: TlsPki, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    vtn = _vtn(pki, port, sign=False)  # a VTN that does not sign: registration is refused
    await vtn.server.run_async()
    site = _site(vtn)
    caplog.set_level(logging.WARNING)
    try:
        await site.ven.run()
        assert site.ven.registration_id is None
        assert site.ven.counts.refused >= 1
        kind, source, reason, raw, _ = site.dead.items[0]
        assert kind == "openadr" and source == vtn.url
        assert "signature" in reason and b"oadrPayload" in raw
    finally:
        if site.ven.client_session is not None:
            await site.ven.client_session.close()
        await vtn.server.stop()


async def test_wrong_pinned_fingerprint_is_refused(pki: TlsPki, tmp_path: Path) -> None:
    port = free_port()
    vtn = _vtn(pki, port)
    await vtn.server.run_async()
    site = _site(vtn, pin="00:11:22:33:44:55:66:77:88:99")
    try:
        await site.ven.run()
        assert site.ven.registration_id is None
        assert site.ven.counts.refused >= 1
        assert "another certificate" in site.dead.items[0][2]
    finally:
        if site.ven.client_session is not None:
            await site.ven.client_session.close()
        await vtn.server.stop()


async def test_malformed_payload_is_refused_counted_and_kept(pki: TlsPki) -> None:
    port = free_port()
    vtn = _vtn(pki, port)
    corrupt = {"on": False}

    @web.middleware
    async def mangle(request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        if corrupt["on"] and isinstance(response, web.Response) and response.body:
            raw = bytes(response.body)  # type: ignore[arg-type]
            body = raw.replace(b"oadrResponse", b"oadrMangled", 1)
            return web.Response(body=body, status=200, content_type="application/xml")
        return response

    vtn.server.app.middlewares.append(mangle)
    await vtn.server.run_async()
    site = _site(vtn)
    try:
        await site.ven.run()
        assert site.ven.registration_id == "reg-1"
        before = site.ven.counts.refused
        corrupt["on"] = True
        await until(lambda: site.ven.counts.refused > before, 15, "malformed poll answer refused")
        kind, _, reason, raw, _ = site.dead.items[-1]
        assert kind == "openadr" and "not a valid OpenADR 2.0b message" in reason
        assert b"oadrMangled" in raw
        corrupt["on"] = False
        _add(vtn, event_id="ev-after", level=1)
        await until(lambda: ("ev-after", "optIn") in vtn.opts, 15, "VEN still works after")
    finally:
        await site.ven.stop()
        await vtn.server.stop()


async def test_a_lowercase_pinned_fingerprint_is_the_same_fingerprint(pki: TlsPki) -> None:
    """The config accepts hex in either case (openadr.vtn_fingerprint, AA:bb:..), and a
    fingerprint copied from a tool that prints lowercase is the same certificate; openleadr
    compares the strings as they are, so a lowercase pin refused every VTN message."""
    port = free_port()
    vtn = _vtn(pki, port)
    await vtn.server.run_async()
    pin = certificate_fingerprint(pki.server.cert.read_text()).lower()
    site = _site(vtn, pin=pin)
    try:
        await site.ven.run()
        assert site.ven.registration_id == "reg-1", site.dead.items[:1]
        assert site.ven.counts.refused == 0
    finally:
        await site.ven.stop()
        await vtn.server.stop()


async def test_an_oversized_vtn_answer_is_refused_without_reading_it_whole(pki: TlsPki) -> None:
    """A hostile or broken VTN answering a poll with a huge body: the VEN reads at most
    its message limit, refuses the answer (counted, dead-lettered with what was read) and
    carries on."""
    from connectors.openadr.oadr20b import MAX_MESSAGE_BYTES

    port = free_port()
    vtn = _vtn(pki, port)
    huge = {"on": False, "sent": 0}

    @web.middleware
    async def inflate(request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        if not huge["on"]:
            return response
        stream = web.StreamResponse(status=200, headers={"Content-Type": "application/xml"})
        await stream.prepare(request)
        chunk = b" " * (1 << 20)
        try:
            for _ in range(4 * MAX_MESSAGE_BYTES // len(chunk)):
                await stream.write(chunk)
                huge["sent"] += len(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the VEN stopped reading: what it should do
        return stream

    vtn.server.app.middlewares.append(inflate)
    await vtn.server.run_async()
    site = _site(vtn)
    try:
        await site.ven.run()
        assert site.ven.registration_id == "reg-1"
        before = site.ven.counts.refused
        huge["on"] = True
        await until(lambda: site.ven.counts.refused > before, 30, "oversized answer refused")
        kind, _, reason, raw, _ = site.dead.items[-1]
        assert kind == "openadr" and "larger than" in reason
        assert len(raw) <= MAX_MESSAGE_BYTES
        huge["on"] = False
        _add(vtn, event_id="ev-after-huge", level=1)
        await until(lambda: ("ev-after-huge", "optIn") in vtn.opts, 15, "VEN still works after")
    finally:
        await site.ven.stop()
        await vtn.server.stop()


def _live(inbox: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What the DR inbox honours: the last body per internal id, cancelled ones left out."""
    last: dict[str, dict[str, Any]] = {}
    for body in inbox:
        last[body["event_id"]] = body
    return {k: v for k, v in last.items() if v.get("status", "active") != "cancelled"}


@pytest.mark.parametrize("answer", ["optIn", "optOut"])
async def test_a_modification_that_drops_intervals_withdraws_them(
    running: tuple[Vtn, Site], answer: str
) -> None:
    """The VTN shortens an accepted two-interval event to one interval. Opted in again:
    the dropped interval (ev.1) must be withdrawn, or the DR agent keeps dispatching for an
    hour the VTN no longer asks for. Opted out: both intervals are withdrawn (the opt-out
    withdrew only as many as the new revision had)."""
    vtn, site = running
    start = datetime.now(UTC) + timedelta(seconds=5)
    intervals = [
        {
            "dtstart": start + timedelta(minutes=30 * i),
            "duration": timedelta(minutes=30),
            "signal_payload": 1,
        }
        for i in range(2)
    ]
    vtn.server.add_event(
        VEN_ID,
        "simple",
        "level",
        intervals,
        event_id="ev-short",
        callback=lambda ven_id, event_id, opt_type: vtn.opts.append((event_id, opt_type)),
        market_context="oadr://utility/summer-peak",
    )
    await until(lambda: ("ev-short", "optIn") in vtn.opts, 15, "first opt-in")
    assert set(_live(site.inbox)) == {"ev-short.0", "ev-short.1"}
    site.answer = answer
    event = next(e for e in vtn.server.events[VEN_ID] if e.event_descriptor.event_id == "ev-short")
    del event.event_signals[0].intervals[1]
    event.event_descriptor.modification_number += 1
    vtn.server.events_updated[VEN_ID] = True
    await until(
        lambda: site.ven.events_seen["ev-short"].modification == 1, 15, "modification decided"
    )
    await until(
        lambda: any(
            k == "dr.openadr.responded" and d["modification"] == 1 and d["opt"] == answer
            for k, d in site.log
        ),
        15,
        "modification answered",
    )
    expected = {"ev-short.0"} if answer == "optIn" else set()
    assert set(_live(site.inbox)) == expected


async def test_stopping_with_a_poll_in_flight_logs_no_error(
    pki: TlsPki, caplog: pytest.LogCaptureFixture
) -> None:
    """The service stops the VEN and its thread's asyncio.run cancels what is left: a poll
    waiting on the VTN at that moment was cancelled inside apscheduler's job, which logged
    it as an ERROR with a CancelledError traceback on every clean shutdown."""
    import asyncio
    import threading

    port = free_port()
    vtn = _vtn(pki, port)
    hang: dict[str, Any] = {"on": False, "entered": threading.Event()}

    @web.middleware
    async def slow(request: web.Request, handler: Any) -> web.StreamResponse:
        if hang["on"] and request.path.endswith("OadrPoll"):
            hang["entered"].set()
            await asyncio.sleep(5)
        response: web.StreamResponse = await handler(request)
        return response

    vtn.server.app.middlewares.append(slow)
    await vtn.server.run_async()
    site = _site(vtn)

    async def ven_thread() -> None:  # as runtime/agents/openadr.py runs it
        await site.ven.run()
        assert site.ven.registration_id == "reg-1"
        hang["on"] = True
        for _ in range(1000):
            if hang["entered"].is_set():
                break
            await asyncio.sleep(0.01)
        assert hang["entered"].is_set(), "no poll reached the VTN"
        await site.ven.stop()
        # returning: asyncio.run cancels the poll job still waiting on the VTN

    caplog.set_level(logging.WARNING)
    try:
        await asyncio.to_thread(asyncio.run, ven_thread())
    finally:
        await vtn.server.stop()
    # the VEN's side only: the VTN (openleadr's server, aiohttp's web server) may log the
    # connection the VEN dropped
    errors = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR
        and (
            r.name.startswith(("apscheduler", "connectors"))
            or r.pathname.endswith("openleadr/client.py")
        )
    ]
    assert errors == [], [r.getMessage() for r in errors]

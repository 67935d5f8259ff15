"""The OpenADR 3 VEN (toadr3) against a VTN stood up in the test.

No OpenADR 3 reference VTN installs from the registries, so the VTN is a small aiohttp
app whose every request and response body is validated with ``openadr3``'s entity
models (an independent implementation of the specification's schemas): a request the
specification would refuse fails the test, and so does a response we made up wrong.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiohttp import web
from openadr3.entities import raw

from connectors.deadletter import MemoryDeadLetters
from connectors.openadr.oadr3 import Ven3
from connectors.openadr.translate import OadrEvent
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.integration
TOKEN = "vtn-token-1"


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Vtn:
    port: int
    programs: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    raw_events: bytes | None = None  # when set: served as is (a broken VTN)
    huge_events_bytes: int = 0  # when set: /events streams this many bytes (no length)
    huge_sent: int = 0
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        @web.middleware
        async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.json_response({"title": "Forbidden", "status": 403}, status=403)
            response: web.StreamResponse = await handler(request)
            return response

        async def programs(_r: web.Request) -> web.Response:
            for p in self.programs:
                raw.RawProgram.model_validate(p)  # the response is a valid program
            return web.json_response(self.programs)

        async def events(r: web.Request) -> web.StreamResponse:
            if self.huge_events_bytes:
                stream = web.StreamResponse(status=200)
                stream.content_type = "application/json"
                await stream.prepare(r)
                chunk = b"[" + b" " * ((1 << 20) - 1)
                try:
                    for _ in range(self.huge_events_bytes // len(chunk)):
                        await stream.write(chunk)
                        self.huge_sent += len(chunk)
                except (ConnectionError, RuntimeError):
                    pass  # the VEN stopped reading: what it should do
                return stream
            if self.raw_events is not None:
                return web.Response(body=self.raw_events, content_type="application/json")
            pid = r.query.get("programID")
            out = [e for e in self.events if pid is None or e["programID"] == pid]
            for e in out:
                raw.RawEvent.model_validate(e)
            return web.json_response(out)

        async def reports(r: web.Request) -> web.Response:
            body = await r.json()
            raw.RawReport.model_validate(body)  # the VEN's request is a valid report
            assert body["eventID"] and body["clientName"] == "site-1"
            made = {
                **body,
                "id": f"r{len(self.reports) + 1}",
                "createdDateTime": _iso(datetime.now(UTC)),
            }
            raw.RawReport.model_validate(made)
            self.reports.append(made)
            return web.json_response(made, status=201)

        async def subscriptions(r: web.Request) -> web.Response:
            body = await r.json()
            raw.RawSubscription.model_validate(body)
            made = {
                **body,
                "id": f"s{len(self.subscriptions) + 1}",
                "createdDateTime": _iso(datetime.now(UTC)),
            }
            self.subscriptions.append(made)
            return web.json_response(made, status=201)

        app = web.Application(middlewares=[auth])
        app.add_routes(
            [
                web.get("/programs", programs),
                web.get("/events", events),
                web.post("/reports", reports),
                web.post("/subscriptions", subscriptions),
            ]
        )
        return app

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app())
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


def _event(
    eid: str,
    *,
    start: datetime,
    payload: dict[str, Any],
    minutes: int = 60,
    modified: datetime | None = None,
) -> dict[str, Any]:
    return {
        "id": eid,
        "objectType": "EVENT",
        "programID": "p1",
        "eventName": eid,
        "createdDateTime": _iso(datetime(2026, 7, 1, tzinfo=UTC)),
        "modificationDateTime": _iso(modified or datetime(2026, 7, 1, tzinfo=UTC)),
        "payloadDescriptors": [
            {
                "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                "payloadType": "IMPORT_CAPACITY_LIMIT",
                "units": "KW",
            }
        ],
        "intervalPeriod": {"start": _iso(start), "duration": f"PT{minutes}M"},
        "intervals": [{"id": 0, "payloads": [payload]}],
    }


@dataclass
class Site:
    ven: Ven3
    inbox: list[dict[str, Any]] = field(default_factory=list)
    dead: MemoryDeadLetters = field(default_factory=MemoryDeadLetters)
    answer: str = "optIn"


@pytest.fixture
async def vtn() -> AsyncIterator[Vtn]:
    v = Vtn(port=free_port())
    v.programs = [
        {
            "id": "p1",
            "objectType": "PROGRAM",
            "programName": "summer-peak",
            "createdDateTime": _iso(datetime(2026, 6, 1, tzinfo=UTC)),
        },
        {"id": "p2", "objectType": "PROGRAM", "programName": "other-program"},
    ]
    await v.start()
    yield v
    await v.stop()


@pytest.fixture
async def site(vtn: Vtn) -> AsyncIterator[Site]:
    holder: dict[str, Site] = {}

    async def decide(event: OadrEvent) -> Any:
        return holder["s"].answer

    dead = MemoryDeadLetters()
    ven = Ven3(
        vtn_url=vtn.url,
        client_name="site-1",
        programs=["summer-peak"],
        decide=decide,
        submit=lambda b, via: holder["s"].inbox.append(orjson.loads(b)),
        dead_letters=dead,
        bearer_token=TOKEN,
        callback_url="http://127.0.0.1:9/oadr3/notify",
        reference_kw=lambda: 1200.0,
    )
    holder["s"] = Site(ven=ven, dead=dead)
    yield holder["s"]
    await ven.close()


async def test_programs_subscription_and_an_accepted_event(vtn: Vtn, site: Site) -> None:
    assert await site.ven.start()
    assert site.ven.programs == {"p1": "summer-peak"}  # only the site's program
    [sub] = vtn.subscriptions
    assert sub["programID"] == "p1" and sub["objectOperations"][0]["objects"] == ["EVENT"]
    start = datetime.now(UTC) + timedelta(minutes=5)
    vtn.events = [
        _event("e1", start=start, payload={"type": "IMPORT_CAPACITY_LIMIT", "values": [900]})
    ]
    assert await site.ven.poll() == 1
    [body] = site.inbox
    assert body["event_id"] == "e1.0" and body["target_kw"] == 900.0
    assert datetime.fromisoformat(body["end"]) - datetime.fromisoformat(body["start"]) == (
        timedelta(minutes=60)
    )
    [opt] = [r for r in vtn.reports if r["reportName"] == "OPT"]
    assert opt["resources"][0]["intervals"][0]["payloads"][0]["values"] == ["OPT_IN"]
    site.ven.report_usage(1180.0, 250.0)
    await site.ven.flush_reports()
    usage = [r for r in vtn.reports if r["reportName"] == "USAGE"]
    assert usage[0]["resources"][0]["intervals"][0]["payloads"][0]["values"] == [1180.0]
    assert await site.ven.poll() == 0  # the same event again: nothing new
    site.ven.report_delivery("e1", [(start, timedelta(minutes=15), 48.5, 1.5)])
    await site.ven.flush_reports()
    [delivery] = [r for r in vtn.reports if r["reportName"] == "x-DELIVERY"]
    payloads = delivery["resources"][0]["intervals"][0]["payloads"]
    assert payloads == [
        {"type": "x-DELIVERED_KW", "values": [48.5]},
        {"type": "x-SHORTFALL_KW", "values": [1.5]},
    ]
    assert delivery["programID"] == "p1"


async def test_opt_out_modification_and_deletion_mid_event(vtn: Vtn, site: Site) -> None:
    assert await site.ven.start()
    now = datetime.now(UTC)
    vtn.events = [
        _event("e2", start=now - timedelta(minutes=10), payload={"type": "SIMPLE", "values": [1]})
    ]
    site.answer = "optOut"
    await site.ven.poll()
    assert site.inbox == []
    assert any(
        r["resources"][0]["intervals"][0]["payloads"][0]["values"] == ["OPT_OUT"]
        for r in vtn.reports
    )
    site.answer = "optIn"  # modified: level 3, decided again
    vtn.events = [
        _event(
            "e2",
            start=now - timedelta(minutes=10),
            modified=now,
            payload={"type": "SIMPLE", "values": [3]},
        )
    ]
    assert await site.ven.poll() == 1
    assert site.inbox[-1]["signal_level"] == 3
    vtn.events = []  # deleted by the VTN mid-event: withdrawn
    await site.ven.poll()
    assert site.inbox[-1] == {**site.inbox[-1], "event_id": "e2.0", "status": "cancelled"}
    assert site.ven.counts.cancelled == 1


async def test_vtn_outage_keeps_events_and_holds_reports(vtn: Vtn, site: Site) -> None:
    assert await site.ven.start()
    start = datetime.now(UTC) + timedelta(minutes=1)
    vtn.events = [
        _event("e3", start=start, payload={"type": "IMPORT_CAPACITY_LIMIT", "values": [800]})
    ]
    await site.ven.poll()
    accepted = list(site.inbox)
    await vtn.stop()
    site.ven.report_usage(1100.0, 250.0)
    site.ven.report_usage(1090.0, 250.0)
    await site.ven.poll()  # nothing reachable: nothing withdrawn, reports held
    assert not site.ven.reachable and site.inbox == accepted
    assert site.ven.counts.reports_held == 4
    before = len(vtn.reports)
    await vtn.start()
    await site.ven.poll()
    assert site.ven.counts.reports_held == 0
    assert len(vtn.reports) == before + 4
    assert site.inbox == accepted  # the event is still there and still known


async def test_malformed_events_are_refused_counted_and_kept(vtn: Vtn, site: Site) -> None:
    assert await site.ven.start()
    bad = _event("e4", start=datetime.now(UTC), payload={"type": "SIMPLE", "values": [1]})
    bad["intervalPeriod"]["duration"] = "one hour"
    vtn.raw_events = orjson.dumps([bad])
    await site.ven.poll()
    assert site.inbox == [] and site.ven.counts.refused == 1
    kind, _, reason, payload, _ = site.dead.items[0]
    assert kind == "openadr" and "not an OpenADR 3 event" in reason and b"one hour" in payload
    vtn.raw_events = b"<html>not json</html>"
    await site.ven.poll()
    assert site.ven.counts.refused == 2 and site.dead.items[1][3] == b"<html>not json</html>"
    vtn.raw_events = None
    vtn.events = [_event("e5", start=datetime.now(UTC), payload={"type": "PRICE", "values": [0.3]})]
    await site.ven.poll()
    assert "PRICE not supported" in site.dead.items[2][2]


async def test_a_wrong_token_is_refused_by_the_vtn_and_kept(vtn: Vtn, site: Site) -> None:
    assert await site.ven.start()
    site.ven._headers = {"Authorization": "Bearer wrong"}
    await site.ven.poll()
    assert "HTTP 403" in site.dead.items[0][2]


async def test_an_event_with_an_empty_or_wrong_payload_is_refused_and_the_rest_go_on(
    vtn: Vtn, site: Site
) -> None:
    """``values: []`` or ``["abc"]`` pass toadr3's model but raised IndexError/ValueError out
    of the translation and so out of every poll: one bad event on the VTN stopped the VEN
    from seeing any other event (and, in the service, its M&V and usage reports)."""
    assert await site.ven.start()
    start = datetime.now(UTC) + timedelta(minutes=1)
    vtn.raw_events = orjson.dumps(
        [
            _event("bad-empty", start=start, payload={"type": "SIMPLE", "values": []}),
            _event(
                "bad-text", start=start, payload={"type": "IMPORT_CAPACITY_LIMIT", "values": ["x"]}
            ),
            _event("good", start=start, payload={"type": "SIMPLE", "values": [2]}),
        ]
    )
    assert await site.ven.poll() == 1
    assert [b["event_id"] for b in site.inbox] == ["good.0"]
    assert site.ven.counts.refused == 2
    assert {b"bad-empty", b"bad-text"} == {
        next(k for k in (b"bad-empty", b"bad-text") if k in item[3]) for item in site.dead.items
    }


async def test_a_garbled_events_answer_does_not_withdraw_accepted_events(
    vtn: Vtn, site: Site
) -> None:
    """A body that is not JSON says nothing about which events the VTN holds: an event the
    site accepted must stay (as in an outage), not be withdrawn as if the VTN deleted it."""
    assert await site.ven.start()
    start = datetime.now(UTC) + timedelta(minutes=1)
    vtn.events = [
        _event("kept", start=start, payload={"type": "IMPORT_CAPACITY_LIMIT", "values": [800]})
    ]
    await site.ven.poll()
    accepted = list(site.inbox)
    assert accepted and "status" not in accepted[-1]
    vtn.raw_events = b"<html>502 Bad Gateway</html>"
    await site.ven.poll()
    assert site.ven.counts.refused == 1
    assert site.inbox == accepted and site.ven.counts.cancelled == 0
    vtn.raw_events = None
    await site.ven.poll()  # the VTN answers again, the event is still known: nothing new
    assert site.inbox == accepted


async def test_an_oversized_events_answer_is_refused_without_reading_it_whole(
    vtn: Vtn, site: Site
) -> None:
    """A VTN streaming 16 MiB for /events: the VEN reads at most MAX_MESSAGE_BYTES, refuses
    the answer (counted, dead-lettered with what was read), keeps what it accepted and
    carries on with the next poll."""
    from connectors.openadr.oadr20b import MAX_MESSAGE_BYTES

    assert await site.ven.start()
    start = datetime.now(UTC) + timedelta(minutes=1)
    vtn.events = [_event("e1", start=start, payload={"type": "SIMPLE", "values": [1]})]
    await site.ven.poll()
    accepted = list(site.inbox)
    assert accepted
    vtn.huge_events_bytes = 16 * 1024 * 1024
    assert await site.ven.poll() == 0
    assert site.ven.counts.refused == 1 and site.inbox == accepted
    kind, _, reason, raw_body, _ = site.dead.items[0]
    assert kind == "openadr" and "larger than" in reason
    assert len(raw_body) <= MAX_MESSAGE_BYTES
    vtn.huge_events_bytes = 0
    vtn.events.append(_event("e2", start=start, payload={"type": "SIMPLE", "values": [2]}))
    assert await site.ven.poll() == 1
    assert site.inbox[-1]["event_id"] == "e2.0"


@pytest.mark.parametrize("answer", ["optIn", "optOut"])
async def test_a_modification_that_drops_intervals_withdraws_them(
    vtn: Vtn, site: Site, answer: str
) -> None:
    """The VTN shortens an accepted two-interval event to one: the dropped interval must be
    withdrawn whether the site opts in again or out."""
    assert await site.ven.start()
    start = datetime.now(UTC) + timedelta(minutes=1)
    two = _event("e6", start=start, payload={"type": "SIMPLE", "values": [1]}, minutes=30)
    two["intervals"] = [{"id": i, "payloads": [{"type": "SIMPLE", "values": [1]}]} for i in (0, 1)]
    vtn.events = [two]
    await site.ven.poll()
    last: dict[str, dict[str, Any]] = {b["event_id"]: b for b in site.inbox}
    assert set(last) == {"e6.0", "e6.1"}
    one = _event(
        "e6",
        start=start,
        payload={"type": "SIMPLE", "values": [2]},
        minutes=30,
        modified=datetime.now(UTC),
    )
    vtn.events = [one]
    site.answer = answer
    assert await site.ven.poll() == 1
    last = {b["event_id"]: b for b in site.inbox}
    live = {k for k, b in last.items() if b.get("status", "active") != "cancelled"}
    assert live == ({"e6.0"} if answer == "optIn" else set())

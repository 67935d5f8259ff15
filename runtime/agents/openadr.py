"""The OpenADR VEN next to the conductor: its own thread and event loop (docs/dr.md).

Built from the site config's ``openadr`` section: the VEN (``connectors.openadr.oadr20b``)
hands opted-in events to the conductor's DR inbox (checked and recorded there like any DR
payload), asks ``runtime.approvals.dr_optin.OptInDesk`` whether to opt in, reports the feeder
meter and the flexibility offered, and keeps refused VTN messages in the dead-letter
store. A VTN that cannot be reached at start is retried every ``retry_s``; a VEN that
fails never stops the conductor (it logs, records ``dr.openadr.down`` and retries).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from connectors.deadletter import DeadLetterSink, MemoryDeadLetters
from connectors.openadr.oadr3 import Ven3
from connectors.openadr.oadr20b import Ven20b
from connectors.openadr.translate import OadrEvent
from runtime.approvals.dr_optin import OptInDesk, OptType
from runtime.audit import dr_report
from runtime.config.model import SiteConfig
from runtime.config.site import point_id
from runtime.core.clock import Clock
from runtime.ingest.historian import Historian
from runtime.ingest.state import LatestState
from runtime.log.deadletter import DeadLetterStore
from runtime.log.eventlog import EventLog


class Site(Protocol):
    """What the VEN takes from the conductor that runs it (``agents.shell.Links``)."""

    @property
    def config(self) -> SiteConfig: ...
    @property
    def events(self) -> EventLog: ...
    @property
    def historian(self) -> Historian | None: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def dlq(self) -> DeadLetterStore | None: ...
    @property
    def state(self) -> LatestState: ...


log = logging.getLogger(__name__)
MV_TICK_S = 2.0  # wall seconds between checks for events to measure
MV_GIVE_UP = timedelta(hours=2)  # site time after an event's end: record the M&V as failed


def _identity(t: datetime) -> datetime:
    return t


class OpenAdrService:
    def __init__(
        self,
        conductor: Site,
        submit: Callable[[bytes, str], None],
        *,
        to_site_time: Callable[[datetime], datetime] = _identity,
        retry_s: float = 10.0,
    ) -> None:
        config = conductor.config
        assert config.openadr is not None
        self.c = conductor
        self.oadr = config.openadr
        self.submit = submit
        self.retry_s = retry_s
        battery_id = config.agents.dr_events.battery or config.policy.peak_shaving.battery
        self.battery = battery_id
        self.flexibility_kw = config.battery(battery_id).max_discharge_kw
        self.meter_point = point_id(config.feeder.meter, "p_kw")
        self.dead: DeadLetterSink = (
            conductor.dlq.put if conductor.dlq is not None else MemoryDeadLetters()
        )
        self.committed: dict[str, OadrEvent] = {}  # opted in, M&V not yet done
        self.mv: dict[str, dict[str, Any]] = {}  # event id -> its M&V (as_json)
        self.last_delivered_kw: float | None = None
        self._desk = OptInDesk(
            conductor.events,
            self.oadr,
            clock=conductor.clock,
            flexibility_kw=self.flexibility_kw,
            asset=battery_id,
        )
        self.ven: Ven20b | None = None
        self.ven3: Ven3 | None = None
        self.to_site_time = to_site_time
        self.registered = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    # --- inputs for the VEN -------------------------------------------------------

    async def desk(self, event: OadrEvent) -> OptType:
        """The opt-in desk; what is opted in is measured once it is over."""
        opt = await self._desk(event)
        if opt == "optIn" and not event.cancelled:
            self.committed[event.event_id] = event
        else:
            self.committed.pop(event.event_id, None)
        return opt

    def mv_tick(self) -> list[str]:
        """M&V of every committed event over (site time), once: logged and reported."""
        done: list[str] = []
        now = self.c.clock()
        history = self.c.historian
        for eid, event in list(self.committed.items()):
            if self.to_site_time(event.end) > now:
                continue
            if self.c.historian is not None:
                self.c.historian.flush()
            try:
                window, result = dr_report.report(
                    self.c.events, eid, config=self.c.config, history=history
                )
            except dr_report.ReportError as err:
                if now - self.to_site_time(event.end) < MV_GIVE_UP:
                    continue  # the meter's last interval may not be in the historian yet
                self._record("dr.mv.failed", {"event_id": eid, "reason": str(err)})
                del self.committed[eid]
                continue
            del self.committed[eid]
            figures = dr_report.as_json(window, result)
            self.mv[eid] = figures
            self.last_delivered_kw = result.mean_delivered_kw
            summary = {k: v for k, v in figures.items() if k != "intervals"}
            self._record("dr.mv.computed", summary)
            if self.ven3 is not None:
                self.ven3.report_delivery(
                    eid,
                    [
                        (i.start, result.step, i.delivered_kw, i.shortfall_kw)
                        for i in result.intervals
                    ],
                )
            done.append(eid)
        return done

    def _meter_kw(self) -> float | None:
        reading = self.c.state.get(self.meter_point)
        return None if reading is None else float(reading.value)

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        self.c.events.append(kind, data, ts=self.c.clock())

    def _submit(self, raw: bytes, via: str) -> None:
        self.submit(raw, via)

    def build(self) -> Ven20b:
        tls = self.oadr.tls
        if self.oadr.vtn_fingerprint is None:
            if not self.oadr.allow_insecure:  # check-config refuses this; never run it
                raise RuntimeError(
                    "openadr: no vtn_fingerprint and allow_insecure is not set; not started"
                )
            log.warning(
                "OpenADR INSECURE: no vtn_fingerprint, the signatures of %s are NOT checked; "
                "whoever answers at that URL controls DR events (openadr.allow_insecure: true)",
                self.oadr.vtn_url,
            )
        ven = Ven20b(
            ven_name=self.oadr.ven_name,
            vtn_url=self.oadr.vtn_url,
            ven_id=self.oadr.ven_id,
            decide=self.desk,
            submit=self._submit,
            dead_letters=self.dead,
            record=self._record,
            clock=self.c.clock,
            to_site_time=self.to_site_time,
            reference_kw=self._meter_kw,
            vtn_fingerprint=self.oadr.vtn_fingerprint,
            cert=tls.cert if tls else None,
            key=tls.key if tls else None,
            ca_file=tls.ca_file if tls else None,
        )
        ven.offer_reports(
            meter_kw=self._meter_kw,
            flexibility_kw=lambda: self.flexibility_kw,
            delivered_kw=lambda: self.last_delivered_kw,
            sampling=timedelta(seconds=self.oadr.report_sampling_s),
        )
        return ven

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="openadr-ven", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _main(self) -> None:
        asyncio.run(self._run())

    def build3(self) -> Ven3:
        token_env = self.oadr.bearer_token_env
        token = os.environ.get(token_env) if token_env else None
        if token_env and not token:
            self._down(f"environment variable {token_env} (openadr.bearer_token_env) is empty")
        return Ven3(
            vtn_url=self.oadr.vtn_url,
            client_name=self.oadr.ven_name,
            programs=[p.name for p in self.oadr.programs],
            decide=self.desk,
            submit=self._submit,
            dead_letters=self.dead,
            record=self._record,
            clock=self.c.clock,
            to_site_time=self.to_site_time,
            reference_kw=self._meter_kw,
            bearer_token=token,
            callback_url=self.oadr.callback_url,
        )

    async def _run3(self) -> None:
        """OpenADR 3: find the programs (retry), then poll and report on their cadences."""
        assert self._stop is not None
        ven = self.build3()
        self.ven3 = ven
        loop = asyncio.get_running_loop()
        try:
            while not await ven.start():
                self._down(f"OpenADR 3 VTN {self.oadr.vtn_url} not reached; retry")
                if await _wait(self._stop, self.retry_s):
                    return
            self.registered.set()
            reported = loop.time()
            while not self._stop.is_set():
                try:
                    await ven.poll()
                    self._safe_mv_tick()
                    if loop.time() - reported >= self.oadr.report_sampling_s:
                        reported = loop.time()
                        ven.report_usage(self._meter_kw(), self.flexibility_kw)
                        await ven.flush_reports()
                except Exception as err:  # degrade with an alarm, keep polling
                    log.exception("OpenADR 3 poll failed")
                    self._down(f"poll failed: {type(err).__name__}: {err}")
                if await _wait(self._stop, self.oadr.poll_s):
                    return
        finally:
            await ven.close()

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self.oadr.version == "3":
            await self._run3()
            return
        while not self._stop.is_set():
            ven = self.build()
            self.ven = ven
            try:
                await ven.run()
            except Exception as err:  # a failing VEN degrades with an alarm, never stops control
                log.exception("OpenADR VEN failed")
                self._down(f"VEN failed: {type(err).__name__}: {err}")
            if ven.registration_id is not None:
                self.registered.set()
                while not await _wait(self._stop, MV_TICK_S):
                    self._safe_mv_tick()
                await _quietly(ven.stop())
                return
            self._down(f"not registered with {self.oadr.vtn_url}; retry in {self.retry_s:g} s")
            await _quietly(ven.stop())
            try:
                await asyncio.wait_for(self._stop.wait(), self.retry_s)
            except TimeoutError:
                continue

    def _safe_mv_tick(self) -> None:
        try:
            self.mv_tick()
        except Exception as err:  # M&V failing never stops the VEN
            log.exception("OpenADR: M&V failed")
            self._down(f"M&V failed: {type(err).__name__}: {err}")

    def _down(self, reason: str) -> None:
        log.warning("OpenADR: %s", reason)
        try:
            self._record(
                "dr.openadr.down", {"reason": reason, "wall": datetime.now(UTC).isoformat()}
            )
        except Exception:  # the log failing must not kill the VEN thread
            log.exception("OpenADR: could not record")

    def stats(self) -> dict[str, Any]:
        ven = self.ven3 or self.ven
        return {} if ven is None else ven.counts.as_json()


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until stopped; True when stopped."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def _quietly(coro: Any) -> None:
    try:
        await coro
    except Exception:  # stopping a half-started client: nothing left to do
        log.debug("OpenADR VEN stop", exc_info=True)


def start_openadr(conductor: Site, submit: Callable[[bytes, str], None]) -> OpenAdrService | None:
    """The VEN of the site config's ``openadr`` section, started; None when there is none.

    A clock with ``from_wall`` (the demo's scaled clock) maps the VTN's wall times to
    site time; a real site's clock is the wall.
    """
    oadr = conductor.config.openadr
    if oadr is None or not oadr.enabled:
        return None
    to_site = getattr(conductor.clock, "from_wall", _identity)
    service = OpenAdrService(conductor, submit, to_site_time=to_site)
    service.start()
    return service


__all__ = ["OpenAdrService", "start_openadr"]

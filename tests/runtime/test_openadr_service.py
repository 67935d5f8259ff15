"""The VEN next to a conductor, built from the site config: OpenADR 3 against the test VTN."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from runtime.agents.openadr import OpenAdrService
from runtime.conductor.loop import Conductor
from runtime.config.model import load_config
from runtime.config.openadr import OpenAdrConfig
from runtime.core.clock import FixedClock
from runtime.log.eventlog import EventLog
from tests.connectors.test_openadr3 import TOKEN, Vtn, _event
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.integration
DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo-feeder.yaml"


@pytest.fixture
async def vtn() -> AsyncIterator[Vtn]:
    v = Vtn(port=free_port())
    v.programs = [{"id": "p1", "objectType": "PROGRAM", "programName": "summer-peak"}]
    await v.start()
    yield v
    await v.stop()


async def test_openadr3_service_decides_logs_and_fills_the_dr_inbox(
    vtn: Vtn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OADR3_TOKEN", TOKEN)
    oadr = OpenAdrConfig.model_validate(
        {
            "version": "3",
            "vtn_url": vtn.url,
            "ven_id": "ven-1",
            "ven_name": "site-1",
            "bearer_token_env": "OADR3_TOKEN",
            "poll_s": 1,
            "report_sampling_s": 1,
            "programs": [
                {"name": "summer-peak", "thresholds": {"max_auto_kw": 1000, "max_auto_kwh": 5000}}
            ],
        }
    )
    config = load_config(DEMO).model_copy(update={"openadr": oadr})
    now = datetime.now(UTC)
    events = EventLog(tmp_path / "events.db")
    conductor = Conductor(config, events, FixedClock(now))
    inbox: list[dict[str, object]] = []
    service = OpenAdrService(conductor, lambda raw, via: inbox.append(orjson.loads(raw)))
    vtn.events = [
        _event(
            "e9",
            start=now + timedelta(minutes=5),
            payload={"type": "IMPORT_CAPACITY_LIMIT", "values": [1000]},
        )
    ]
    service.start()
    try:
        for _ in range(200):
            if inbox:
                break
            await asyncio.sleep(0.05)
        assert inbox and inbox[0]["target_kw"] == 1000.0
        decided = [e.payload for e in events.events(kinds=("dr.optin.decided",))]
        assert decided and decided[0]["opt"] == "optIn" and decided[0]["by"] == "auto"
        for _ in range(100):
            if any(r["reportName"] == "x-FLEXIBILITY_KW" for r in vtn.reports):
                break
            await asyncio.sleep(0.05)
        assert any(r["reportName"] == "x-FLEXIBILITY_KW" for r in vtn.reports)
        assert service.stats()["opted_in"] == 1
    finally:
        await asyncio.to_thread(service.stop)
        events.close()

"""OpenADR 2.0b events -> the internal DR model (pure), and a cancellation in the agent's model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from connectors.openadr.translate import OadrEvent, Untranslatable, translate_event
from runtime.agents.dr import DrAccepted, accept_dr_event

T0 = datetime(2026, 7, 15, 17, tzinfo=UTC)


def _event(name: str, kind: str, payloads: list[float], scale: str | None = None) -> dict[str, Any]:
    signal: dict[str, Any] = {
        "signal_name": name,
        "signal_type": kind,
        "intervals": [
            {
                "dtstart": T0 + timedelta(minutes=30 * i),
                "duration": timedelta(minutes=30),
                "signal_payload": p,
            }
            for i, p in enumerate(payloads)
        ],
    }
    if scale is not None:
        signal["measurement"] = {"unit": "W", "scale": scale}
    return {
        "event_descriptor": {
            "event_id": "ev-9",
            "modification_number": 2,
            "event_status": "far",
            "market_context": "oadr://u/p",
        },
        "active_period": {"dtstart": T0, "duration": timedelta(hours=1)},
        "event_signals": [signal],
        "response_required": "always",
    }


def test_simple_levels_become_one_internal_event_per_interval() -> None:
    got = translate_event(_event("simple", "level", [1, 3]), reference_kw=None)
    assert isinstance(got, OadrEvent) and got.modification == 2 and got.program == "oadr://u/p"
    bodies = got.internal()
    assert [b["event_id"] for b in bodies] == ["ev-9.0", "ev-9.1"]
    assert [b["signal_level"] for b in bodies] == [1, 3]
    assert got.commitment_kw(240) == pytest.approx(240)  # level 3: the whole rating
    assert got.energy_kwh(240) == pytest.approx(80 * 0.5 + 240 * 0.5)
    for body in bodies:  # each one is a valid event for the DR agent
        assert isinstance(accept_dr_event(orjson.dumps(body), T0), DrAccepted)


def test_kw_targets_follow_the_si_scale_and_deltas_need_a_reference() -> None:
    watts = translate_event(
        _event("LOAD_DISPATCH", "setpoint", [900_000], "none"), reference_kw=1200
    )
    assert isinstance(watts, OadrEvent)
    assert watts.intervals[0].target_kw == pytest.approx(900.0)
    assert watts.intervals[0].reduction_kw == pytest.approx(300.0)
    delta = translate_event(_event("LOAD_DISPATCH", "delta", [150], "k"), reference_kw=1000)
    assert isinstance(delta, OadrEvent) and delta.intervals[0].target_kw == pytest.approx(850.0)
    blind = translate_event(_event("LOAD_DISPATCH", "delta", [150], "k"), reference_kw=None)
    assert isinstance(blind, Untranslatable) and "reference load" in blind.reason


def test_unsupported_signals_and_bad_levels_say_what_to_send() -> None:
    price = translate_event(_event("ELECTRICITY_PRICE", "price", [0.3]), reference_kw=None)
    assert isinstance(price, Untranslatable)
    assert "ELECTRICITY_PRICE/price not supported; send SIMPLE/level" in price.reason
    level = translate_event(_event("simple", "level", [7]), reference_kw=None)
    assert isinstance(level, Untranslatable) and "levels are 0, 1, 2 or 3" in level.reason


def test_a_cancelled_revision_is_never_active() -> None:
    got = translate_event(_event("simple", "level", [2]), reference_kw=None)
    assert isinstance(got, OadrEvent)
    from dataclasses import replace

    body = replace(got, status="cancelled").internal()[0]
    accepted = accept_dr_event(orjson.dumps(body), T0)
    assert isinstance(accepted, DrAccepted)
    assert accepted.event.status == "cancelled"
    assert not accepted.event.active(T0 + timedelta(minutes=5))

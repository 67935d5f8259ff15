"""The claim checker refuses unfaithful rephrasings (issue #20 item 3) and keeps faithful ones."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from runtime.words.claims import check, explained
from tests.words import fixture as F

ZONE = ZoneInfo("Europe/Berlin")
ASSETS = ("bat1", "pv1", "load1", "substation")


@pytest.fixture()
def chain(tmp_path: Path):  # type: ignore[no-untyped-def]
    log = F.build(tmp_path / "e.db")
    log.append(
        "dispatch.simulated",
        {
            "ok": True,
            "summary": "ok",
            "violations": [],
            "steps": 4,
            "step_s": 900,
            "peak_kw_plan": 1102.0,
            "peak_kw_baseline": 1282.0,
            "energy_shifted_kwh": 45.0,
        },
        ts=F.NOW,
        dispatch_id=F.DISPATCH_A,
    )
    events = list(log.events(dispatch_id=F.DISPATCH_A))
    log.close()
    return events


UNFAITHFUL = [
    "The feeder was at 1100 kW, above the 1282 kW threshold, so bat1 discharged 180 kW.",  # swapped
    "bat1 charged at 180 kW because the feeder was at 1282 kW.",  # direction
    "At 16:05 the battery bat1 discharged 16 % of its power.",  # a percentage from an hour
    "bat1 discharged at 190 kW at 16:05.",  # a value no field has
    "pv1 was curtailed at 16:05 to hold the peak.",  # another asset
    "bat1 discharged 180 kW until 18:00.",  # an end the command did not have
    "The twin predicted a peak of 1282 kW with the plan.",  # the baseline called the plan's peak
]
FAITHFUL = [
    "At 16:05 bat1 discharged 180 kW because the feeder was at 1282 kW, "
    "above the 1100 kW threshold.",
    "bat1 discharged about 181 kW; the twin expected the peak to fall to 1102 kW.",
    "alice approved it and the device was verified at 180 kW.",
]


@pytest.mark.parametrize("draft", UNFAITHFUL)
def test_unfaithful_drafts_are_refused(draft: str, chain) -> None:  # type: ignore[no-untyped-def]
    assert not check(draft, chain, ZONE, ASSETS).ok


@pytest.mark.parametrize("draft", FAITHFUL)
def test_faithful_drafts_pass(draft: str, chain) -> None:  # type: ignore[no-untyped-def]
    verdict = check(draft, chain, ZONE, ASSETS)
    assert verdict.ok, verdict.reason


def test_a_refused_draft_falls_back_to_the_template(chain) -> None:  # type: ignore[no-untyped-def]
    text, source, why = explained(chain, ZONE, ASSETS, draft=lambda _: UNFAITHFUL[1])
    assert source == "template" and "says charge" in why
    assert text.startswith(
        "At 16:05 Europe/Berlin peak_shaving proposed to discharge bat1 at 180 kW"
    )
    ok_text, ok_source, _ = explained(chain, ZONE, ASSETS, draft=lambda _: FAITHFUL[0])
    assert (ok_text, ok_source) == (FAITHFUL[0], "model")


def test_narrative_reads_every_number_from_the_chain(chain) -> None:  # type: ignore[no-untyped-def]
    text, _, _ = explained(chain, ZONE, ASSETS)
    assert check(text, chain, ZONE, ASSETS).ok  # the template passes its own checker
    for said in ("180 kW", "1102 kW", "1282 kW", "alice approved it", "verified at 180 kW"):
        assert said in text

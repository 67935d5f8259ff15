"""The conductor runs every plan through a power flow on the feeder's network before dispatch."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.config.model import SiteConfig
from tests.integration.test_skeleton import kinds, rig

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def stricter_network(tmp_path: Path) -> Path:
    """The demo network with a battery SoC floor of 90 %: any discharge from 85 % breaks it."""
    text = (REPO / "configs" / "networks" / "demo-feeder.yaml").read_text()
    assert "soc_min_pct: 10" in text
    path = tmp_path / "strict-network.yaml"
    path.write_text(text.replace("soc_min_pct: 10", "soc_min_pct: 90"))
    return path


def with_network(config: SiteConfig, network: Path) -> SiteConfig:
    feeder = config.feeder.model_copy(update={"network": str(network)})
    return config.model_copy(update={"feeder": feeder})


async def test_a_plan_the_network_twin_finds_unsafe_is_blocked(tmp_path: Path) -> None:
    network = stricter_network(tmp_path)
    async with rig(
        tmp_path,
        auto_approve_max_kw=400,
        two_person_min_kw=400,
        adapt=lambda c: with_network(c, network),
    ) as r:
        await r.conductor.cycle(r.clock())
        (dispatch_id,) = r.conductor.dispatch_ids
        chain = kinds(r.events, dispatch_id)
        assert chain[-2:] == ["dispatch.grid_validated", "dispatch.blocked"], chain
        grid = next(r.events.events(dispatch_id=dispatch_id, kinds=("dispatch.grid_validated",)))
        assert grid.payload["ok"] is False
        assert any(v["kind"] == "soc_low" for v in grid.payload["report"]["worsened"])
        assert r.field.ledger("bat1") == [], "a blocked plan never reaches the device"


async def test_the_approval_request_carries_the_grid_report_and_its_plot(tmp_path: Path) -> None:
    async with rig(tmp_path, auto_approve_max_kw=50, two_person_min_kw=400) as r:
        await r.conductor.cycle(r.clock())
        (dispatch_id,) = r.conductor.dispatch_ids
        request = next(r.events.events(dispatch_id=dispatch_id, kinds=("approval.requested",)))
        report = request.payload["grid_report"]
        assert report["ok"] is True and report["converged"] is True
        assert (
            report["kpis"]["plan"]["peak_import_kw"] < report["kpis"]["baseline"]["peak_import_kw"]
        )
        with open(request.payload["plot"], "rb") as png:  # noqa: ASYNC230 (a test, a small file)
            assert png.read(8) == b"\x89PNG\r\n\x1a\n"

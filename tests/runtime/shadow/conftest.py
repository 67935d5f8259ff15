from __future__ import annotations

from pathlib import Path

import pytest

from runtime.config.model import SiteConfig, load_config
from runtime.demo.feeder import DEFAULT_CONFIG, SCENARIO_DIR
from runtime.shadow import ShadowInputs, from_scenario
from simulator import load_scenario


def site_config(tmp_path: Path, *, threshold_kw: float, candidates: str) -> Path:
    """The demo feeder with another production threshold and its own candidates."""
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    network = (DEFAULT_CONFIG.parent / "networks" / "demo-feeder.yaml").resolve()
    text = text.replace("networks/demo-feeder.yaml", str(network))
    head, _, tail = text.partition("  # Candidates for")
    _, _, rest = tail.partition("\napprovals:")
    head = head.replace("threshold_kw: 1100", f"threshold_kw: {threshold_kw:g}")
    path = tmp_path / "site.yaml"
    path.write_text(f"{head}  candidates:\n{candidates}\napprovals:{rest}", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def demo_config() -> SiteConfig:
    return load_config(DEFAULT_CONFIG)


@pytest.fixture(scope="session")
def evening_peak(demo_config: SiteConfig) -> ShadowInputs:
    return from_scenario(demo_config, load_scenario("evening-peak", SCENARIO_DIR))

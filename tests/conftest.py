from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import Broker, running_broker


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """A plain (anonymous, no TLS) mosquitto broker on a free loopback port."""
    with running_broker(tmp_path / "mosquitto") as broker:
        yield broker

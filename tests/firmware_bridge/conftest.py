from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gridaios_bridge import EmulatedInverter
from gridaios_bridge.config import EmulatorConfig

from tests.firmware_bridge.harness import BridgeProcess, Runtime, write_config
from tests.support.mosquitto import Broker


@pytest.fixture
def device() -> Iterator[EmulatedInverter]:
    dev = EmulatedInverter(EmulatorConfig(response_time_s=0.1)).start()
    yield dev
    dev.stop()


@pytest.fixture
def runtime(mosquitto: Broker) -> Iterator[Runtime]:
    rt = Runtime(mosquitto.port)
    yield rt
    rt.close()


@pytest.fixture
def bridge_config(
    tmp_path: Path, mosquitto: Broker, device: EmulatedInverter
) -> Callable[..., Path]:
    def make(**overrides: Any) -> Path:
        return write_config(
            tmp_path / "bridge.yaml",
            broker_port=mosquitto.port,
            device_port=device.port,
            state_dir=tmp_path / "state",
            **overrides,
        )

    return make


@pytest.fixture
def bridges(tmp_path: Path) -> Iterator[Callable[[Path], BridgeProcess]]:
    started: list[BridgeProcess] = []

    def start(config: Path) -> BridgeProcess:
        proc = BridgeProcess(config, tmp_path / "bridge.log").start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()

"""``gridaios sim field`` as a process: a service manager's SIGTERM stops it cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.mosquitto import free_port

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_sim_field_exits_0_on_sigterm_after_closing_its_server(tmp_path: Path) -> None:
    text = (REPO / "configs" / "demo-feeder.yaml").read_text()
    text = text.replace("network: networks/", f"network: {REPO / 'configs' / 'networks'}/")
    config = tmp_path / "site.yaml"
    config.write_text(text.replace("127.0.0.1:48400", f"127.0.0.1:{free_port()}"))
    out, err = tmp_path / "field.out", tmp_path / "field.err"
    gridaios = str(Path(sys.executable).parent / "gridaios")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [gridaios, "sim", "field", "--config", str(config), "--speed", "60"],
            stdout=stdout,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 60
        while "virtual field:" not in out.read_text():
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "the field never said it was serving"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert "virtual field: stopped" in out.read_text()
    assert "Traceback" not in err.read_text()

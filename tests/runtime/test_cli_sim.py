"""``gridaios sim field`` as a process: a service manager's SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.mosquitto import free_port

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


GRIDAIOS = str(Path(sys.executable).parent / "gridaios")


def _field_config(tmp_path: Path) -> tuple[Path, int]:
    """The demo site on a free port, its network given by absolute path."""
    text = (REPO / "configs" / "demo-feeder.yaml").read_text()
    text = text.replace("network: networks/", f"network: {REPO / 'configs' / 'networks'}/")
    port = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(text.replace("127.0.0.1:48400", f"127.0.0.1:{port}"))
    return config, port


@contextmanager
def _field(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``gridaios sim field`` serving the demo site, once it says so; killed if still running."""
    config, port = _field_config(tmp_path)
    out, err = tmp_path / "field.out", tmp_path / "field.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [GRIDAIOS, "sim", "field", "--config", str(config), *args], stdout=stdout, stderr=stderr
        )
    try:
        deadline = time.monotonic() + 60
        while "virtual field:" not in out.read_text():
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "the field never said it was serving"
            time.sleep(0.05)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_sim_field_exits_0_on_sigterm_after_closing_its_server(tmp_path: Path) -> None:
    with _field(tmp_path, "--speed", "60") as (proc, _):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, (tmp_path / "field.err").read_text()
    assert "virtual field: stopped" in (tmp_path / "field.out").read_text()
    assert "Traceback" not in (tmp_path / "field.err").read_text()


def test_sim_field_from_now_stamps_wall_clock_readings(tmp_path: Path) -> None:
    """What an integrator runs by hand next to `gridaios run` (which keeps the wall clock)."""
    from asyncua import Client

    async def read_ts(port: int) -> datetime:
        async with Client(f"opc.tcp://127.0.0.1:{port}/gridaios/field") as client:
            value = await client.get_node("ns=2;s=substation.p_kw").read_data_value()
            assert value.SourceTimestamp is not None
            return value.SourceTimestamp.replace(tzinfo=UTC)

    with _field(tmp_path, "--start", "now") as (proc, port):
        stamped = asyncio.run(read_ts(port))
        assert abs(datetime.now(UTC) - stamped) < timedelta(seconds=30), stamped
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, (tmp_path / "field.err").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start", "now", "--speed", "60"], "use --speed 1"),
        (["--start", "yesterday"], "give `now` or an ISO 8601 time with its offset"),
        (["--start", "2026-07-15T15:30:00"], "with its offset"),
    ],
)
def test_sim_field_start_refuses_what_would_not_work(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    config, _ = _field_config(tmp_path)
    done = subprocess.run(
        [GRIDAIOS, "sim", "field", "--config", str(config), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and message in done.stderr, done.stderr

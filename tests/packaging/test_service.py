"""The systemd unit (checked by systemd-analyze) and the notify protocol of a real `gridaios run`.

systemd is not PID 1 here, so the test plays systemd's part: it binds the unix datagram
socket named by ``NOTIFY_SOCKET`` and reads what the service sends: ``READY=1`` once the
conductor is connected to the field, ``WATCHDOG=1`` every third of ``WATCHDOG_USEC``
while the control loop turns, ``STOPPING=1`` on SIGTERM.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.service.sdnotify import Notifier, loop_is_alive, watchdog_interval_s
from tests.packaging.procs import env_with, init_site, process

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "packaging" / "gridaios.service"
GRIDAIOS = str(Path(sys.executable).parent / "gridaios")


def _unit_for_this_machine(tmp_path: Path) -> Path:
    """The shipped unit with ExecStart pointing at this venv's gridaios (verify checks it)."""
    text = UNIT.read_text()
    assert "/opt/gridaios/venv/bin/gridaios run" in text
    unit = tmp_path / "gridaios.service"
    unit.write_text(text.replace("/opt/gridaios/venv/bin/gridaios", GRIDAIOS))
    return unit


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze missing: run `make test` (scripts/sysdeps.sh)"
    done = subprocess.run(
        [analyze, "verify", str(_unit_for_this_machine(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # verify exits 0 on unknown keys and only warns: any output is a finding
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_verify_would_catch_a_misspelt_key(tmp_path: Path) -> None:
    unit = _unit_for_this_machine(tmp_path)
    unit.write_text(unit.read_text().replace("WatchdogSec=", "WatchdogSecs="))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "WatchdogSecs" in done.stderr


def test_unit_is_hardened_and_supervised() -> None:
    keys = dict(
        line.split("=", 1)
        for line in UNIT.read_text().splitlines()
        if "=" in line and line[0] != "#"
    )
    assert keys["Type"] == "notify" and int(keys["WatchdogSec"]) > 0
    assert keys["Restart"] == "on-failure" and int(keys["StartLimitBurst"]) > 0
    assert keys["ProtectSystem"] == "strict" and keys["NoNewPrivileges"] == "yes"
    assert keys["User"] == "gridaios" and keys["StateDirectory"] == "gridaios"
    assert keys["ConfigurationDirectory"] == "gridaios" and keys["MemoryMax"].endswith("M")


class NotifySocket:
    """What systemd listens on: an abstract-namespace unix datagram socket."""

    def __init__(self) -> None:
        self.name = f"@gridaios-test-{uuid.uuid4().hex[:12]}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.got: list[tuple[float, str]] = []

    def wait_for(self, field: str, timeout_s: float) -> float:
        """Read datagrams until one carries ``field``; returns when it arrived (monotonic)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            at = time.monotonic()
            self.got.append((at, data))
            if field in data.split("\n"):
                return at
        raise AssertionError(f"no {field} within {timeout_s} s; got {[d for _, d in self.got]}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    s = NotifySocket()
    yield s
    s.close()


@pytest.mark.integration
def test_run_sends_ready_then_watchdog_then_stopping(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    site = init_site(GRIDAIOS, tmp_path / "etc")
    env = env_with(NOTIFY_SOCKET=notify_socket.name, WATCHDOG_USEC="900000")
    with (
        process(
            [GRIDAIOS, "sim", "field", "--config", str(site)],
            tmp_path,
            "field",
            ready_text="virtual field:",
        ),
        process(
            [GRIDAIOS, "run", "--config", str(site), "--db", str(tmp_path / "var" / "events.db")],
            tmp_path,
            "run",
            env=env,
        ) as run,
    ):
        notify_socket.wait_for("READY=1", 90)
        ready = [d for _, d in notify_socket.got if "READY=1" in d]
        assert "STATUS=conducting site demo-feeder" in ready[0]
        beats = [notify_socket.wait_for("WATCHDOG=1", 5) for _ in range(4)]
        gaps = [b - a for a, b in itertools.pairwise(beats)]
        assert all(0.1 < g < 1.0 for g in gaps), gaps  # every 0.3 s, within the 0.9 s watchdog
        run.send_signal(signal.SIGTERM)
        notify_socket.wait_for("STOPPING=1", 30)
        assert run.wait(timeout=60) == 0, (tmp_path / "run.err").read_text()
    assert "Traceback" not in (tmp_path / "run.err").read_text()


def test_a_hung_control_loop_stops_the_watchdog(notify_socket: NotifySocket) -> None:
    """The datagrams stop once the loop's last turn is older than half the interval."""
    notifier = Notifier({"NOTIFY_SOCKET": notify_socket.name, "WATCHDOG_USEC": "300000"})
    turned = {"at": 0.0}

    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def control_loop(turns: int) -> None:
            for _ in range(turns):
                turned["at"] = loop.time()
                await asyncio.sleep(0.02)
            await asyncio.sleep(3600)  # hung: awaits forever, the event loop itself is fine

        dog = asyncio.create_task(notifier.watchdog(lambda: turned["at"]))
        control = asyncio.create_task(control_loop(50))  # turns for about 1 s
        await asyncio.sleep(2.5)
        dog.cancel()
        control.cancel()
        await asyncio.gather(dog, control, return_exceptions=True)

    t0 = time.monotonic()
    asyncio.run(main())
    notify_socket.sock.settimeout(0.1)
    arrivals = []
    while True:
        try:
            notify_socket.sock.recv(4096)
        except TimeoutError:
            break
        arrivals.append(time.monotonic())
    # everything was sent before we read: count from what the notifier recorded instead
    sent = notifier.sent
    assert sent and set(sent) == {"WATCHDOG=1"}
    assert len(arrivals) == len(sent)
    # about 1 s alive + 0.15 s grace at one ping per 0.1 s: ~11; none for the hung 1.3 s
    assert 5 <= len(sent) <= 14, len(sent)
    assert time.monotonic() - t0 >= 2.5


def test_notify_is_a_no_op_outside_systemd() -> None:
    notifier = Notifier({})
    assert not notifier.enabled and notifier.ready("x") is False and notifier.sent == []


def test_watchdog_interval_is_only_for_the_named_pid() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    mine = {"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval_s(mine) == 5.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "soon"}) is None
    assert loop_is_alive(10.0, 11.0, 2.0) and not loop_is_alive(10.0, 13.0, 2.0)
    assert not loop_is_alive(None, 1.0, 2.0)

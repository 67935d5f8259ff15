"""A real mosquitto broker on a free loopback port, for tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if found is None:
        raise RuntimeError("mosquitto is not installed; run `make test` (it installs it)")
    return found


@dataclass
class Broker:
    host: str
    port: int
    conf: Path
    log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def start_again(self) -> None:
        """Restart on the same port (for outage tests)."""
        self.stop()
        self.process = _spawn(self.conf, self.log)
        _wait_listening(self.host, self.port, self.process, self.log)


def _spawn(conf: Path, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=out, stderr=out)


def _wait_listening(host: str, port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"mosquitto did not listen on {host}:{port} within 10 s")


@contextmanager
def running_broker(
    workdir: Path, extra_conf: str = "", persistent: bool = False
) -> Iterator[Broker]:
    """Start mosquitto with ``extra_conf`` appended (TLS, ACL, ...); stop it afterwards.

    ``persistent=True`` keeps sessions and queued QoS 1 messages in ``workdir`` across
    ``Broker.start_again()`` (for outage tests whose observer must not miss anything).
    """
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "mosquitto.conf"
    log = workdir / "mosquitto.log"
    persistence = "persistence false\n"
    if persistent:
        persistence = f"persistence true\npersistence_location {workdir}/\n"
        if os.geteuid() == 0:
            # Started as root, mosquitto drops to the `mosquitto` user, which cannot
            # write its database into pytest's private tmp dirs; keep root instead.
            persistence += "user root\n"
    base = f"listener {port} 127.0.0.1\nallow_anonymous true\n{persistence}"
    if extra_conf:
        base = f"listener {port} 127.0.0.1\n{persistence}" + extra_conf
    conf.write_text(base)
    process = _spawn(conf, log)
    broker = Broker("127.0.0.1", port, conf, log, process)
    try:
        _wait_listening("127.0.0.1", port, process, log)
        yield broker
    finally:
        broker.stop()

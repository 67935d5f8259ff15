"""An independent Sparkplug B edge (pysparkplug, tests/interop/pysparkplug/edge.py) as a
process: started, killed (its will is its NDEATH) and started again."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parents[1] / "interop" / "pysparkplug"
SITE = HERE / "site"


def edge_site() -> Path:
    if not (SITE / "pysparkplug").is_dir():
        raise RuntimeError(
            f"pysparkplug is not installed; run `make interop` (pip install --target {SITE} "
            f"-r {HERE / 'requirements.txt'})"
        )
    return SITE


class SparkplugEdge:
    def __init__(self, host: str, port: int, group: str, edge: str, device: str) -> None:
        self.args = [host, str(port), group, edge, device]
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []

    def start(self, startup_s: float = 30.0) -> SparkplugEdge:
        env = {**os.environ, "PYTHONPATH": str(edge_site())}  # its own paho-mqtt 1.x
        process = subprocess.Popen(
            [sys.executable, str(HERE / "edge.py"), *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        ready = threading.Event()

        def reader() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                self.lines.append(line)
                if line.startswith("ready"):
                    ready.set()

        threading.Thread(target=reader, daemon=True).start()
        if not ready.wait(startup_s):
            process.kill()
            raise RuntimeError(f"pysparkplug edge did not start: {''.join(self.lines)[-2000:]}")
        self.process = process
        return self

    def commands(self) -> list[str]:
        return [ln.strip() for ln in self.lines if ln.startswith("cmd ")]

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None

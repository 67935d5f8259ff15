"""A standard device on node-opcua (tests/interop/node-opcua/device.js): no gridaios nodes,
a Float setpoint, report-on-change values. Started, killed and restarted on one port."""

from __future__ import annotations

import subprocess
import threading

from tests.support.mosquitto import free_port
from tests.support.nodeopcua import HERE, node_binary


class NodeDevice:
    def __init__(self, role: str, *, port: int | None = None, args: tuple[str, ...] = ()) -> None:
        self.role = role
        self.port = port or free_port()
        self.args = args
        self.endpoint = f"opc.tcp://127.0.0.1:{self.port}/device"
        self.ns = 1
        self.process: subprocess.Popen[str] | None = None

    def start(self, startup_s: float = 90.0) -> NodeDevice:
        cmd = [node_binary(), "device.js", "--port", str(self.port), "--role", self.role]
        process = subprocess.Popen(
            [*cmd, *self.args],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()
        lines: list[str] = []

        def reader() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                if line.startswith("ready "):
                    ready.set()

        threading.Thread(target=reader, daemon=True).start()
        if not ready.wait(startup_s):
            process.kill()
            raise RuntimeError(f"node-opcua {self.role} did not start: {''.join(lines)[-2000:]}")
        self.ns = int(next(x for x in lines if x.startswith("ready ")).split("ns=")[1])
        self.process = process
        return self

    def kill(self) -> None:
        """Gone at once, as a device that loses power (no goodbye to the client)."""
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

    def __enter__(self) -> NodeDevice:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

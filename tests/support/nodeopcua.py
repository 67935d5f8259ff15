"""An independent OPC UA server (node-opcua, in tests/interop/node-opcua) on a loopback port."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.mosquitto import free_port
from tests.support.pki import CertFiles

HERE = Path(__file__).resolve().parents[1] / "interop" / "node-opcua"
SERVER_URI = "urn:gridaios:interop-server"


@dataclass
class NodeServer:
    endpoint: str
    port: int
    ns: int  # namespace index of the field's nodes
    process: subprocess.Popen[str]


def node_binary() -> str:
    found = shutil.which("node")
    if found is None:
        raise RuntimeError(
            "node is not installed; run `make test` (scripts/sysdeps.sh installs it)"
        )
    if not (HERE / "node_modules" / "node-opcua").is_dir():
        raise RuntimeError(f"node-opcua is not installed; run `npm ci` in {HERE} (make test does)")
    return found


@contextmanager
def node_opcua_server(
    *,
    fast: int = 0,
    pki: Path | None = None,
    cert: CertFiles | None = None,
    trusted_clients: list[Path] = (),  # type: ignore[assignment]
    startup_s: float = 90.0,
) -> Iterator[NodeServer]:
    """Start ``server.js``; with ``pki`` it serves SignAndEncrypt only, with ``cert`` as its own."""
    port = free_port()
    args = [node_binary(), "server.js", "--port", str(port), "--fast", str(fast)]
    if pki is not None:
        assert cert is not None
        shutil.copy(cert.cert, pki / "server_cert.pem")
        shutil.copy(cert.key, pki / "server_key.pem")
        trusted = pki / "server" / "trusted" / "certs"
        trusted.mkdir(parents=True, exist_ok=True)
        for client_cert in trusted_clients:
            shutil.copy(client_cert, trusted / client_cert.name)
        args += ["--secure", str(pki), "--uri", SERVER_URI]
    process = subprocess.Popen(
        args, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
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
    try:
        if not ready.wait(startup_s):
            raise RuntimeError(f"node-opcua server did not start: {''.join(lines)[-2000:]}")
        ns = int(next(x for x in lines if x.startswith("ready ")).split("ns=")[1])
        yield NodeServer(f"opc.tcp://127.0.0.1:{port}/gridaios/interop", port, ns, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

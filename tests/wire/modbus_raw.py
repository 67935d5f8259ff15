"""Raw Modbus TCP frames for the test vectors: one request out, its reply PDU back, and a
listener that records request frames (an independent check of what a client sends)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

MBAP = struct.Struct(">HHHB")


def _recv(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def read_frame(sock: socket.socket) -> bytes:
    header = _recv(sock, 7)
    _tid, _proto, length, _unit = MBAP.unpack(header)
    return header + _recv(sock, length - 1)


def exchange(port: int, unit: int, request_pdu_hex: str, tid: int = 9) -> str:
    """Send one request PDU to 127.0.0.1:port as ``unit``; the reply PDU in hex."""
    pdu = bytes.fromhex(request_pdu_hex)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(MBAP.pack(tid, 0, len(pdu) + 1, unit) + pdu)
        reply = read_frame(sock)
    got_tid, _proto, _length, got_unit = MBAP.unpack(reply[:7])
    assert (got_tid, got_unit) == (tid, unit)
    return reply[7:].hex()


@contextmanager
def raw_device(seen: list[bytes]) -> Iterator[int]:
    """A listener that records every request frame and answers reads with zeros and
    writes with the echo Modbus prescribes; yields its port."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while True:
                try:
                    frame = read_frame(conn)
                except (ConnectionError, OSError):
                    return
                seen.append(frame)
                tid, _proto, _length, unit = MBAP.unpack(frame[:7])
                function = frame[7]
                if function in (3, 4):
                    count = struct.unpack(">H", frame[10:12])[0]
                    pdu = bytes([function, 2 * count]) + bytes(2 * count)
                else:
                    pdu = frame[7:12]
                conn.sendall(MBAP.pack(tid, 0, len(pdu) + 1, unit) + pdu)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.close()
        thread.join(5)

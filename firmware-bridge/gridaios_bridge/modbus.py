"""A minimal Modbus TCP client and server (function codes 3, 6 and 16), standard library only.

Frames: MBAP header (transaction id, protocol id 0, length, unit id) + PDU. Registers
are 16-bit big-endian. The framing functions are pure and covered by test vectors.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
from collections.abc import Callable

__all__ = [
    "ModbusClient",
    "ModbusError",
    "ModbusServer",
    "RegisterBank",
    "decode_request",
    "encode_request",
]

READ_HOLDING = 3
WRITE_SINGLE = 6
WRITE_MULTIPLE = 16
ILLEGAL_FUNCTION = 1
ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3
_MBAP = struct.Struct(">HHHB")
log = logging.getLogger(__name__)


class ModbusError(Exception):
    """The device did not answer, answered badly, or returned an exception code."""


def encode_request(tid: int, unit: int, function: int, address: int, values: list[int]) -> bytes:
    """Request frame. For function 3, ``values`` is ``[count]``."""
    if function == READ_HOLDING:
        pdu = struct.pack(">BHH", function, address, values[0])
    elif function == WRITE_SINGLE:
        pdu = struct.pack(">BHH", function, address, values[0] & 0xFFFF)
    elif function == WRITE_MULTIPLE:
        body = b"".join(struct.pack(">H", v & 0xFFFF) for v in values)
        pdu = struct.pack(">BHHB", function, address, len(values), len(body)) + body
    else:
        raise ValueError(f"function code {function} is not supported (3, 6, 16 are)")
    return _MBAP.pack(tid, 0, len(pdu) + 1, unit) + pdu


def decode_request(frame: bytes) -> tuple[int, int, int, bytes]:
    """(transaction id, unit id, function code, rest of the PDU) of one full frame."""
    tid, proto, length, unit = _MBAP.unpack_from(frame)
    if proto != 0 or length != len(frame) - 6 or length < 2:
        raise ModbusError(f"bad MBAP header: protocol {proto}, length {length}")
    return tid, unit, frame[7], frame[8:]


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by peer")
        buf += chunk
    return bytes(buf)


def _read_frame(sock: socket.socket) -> bytes:
    header = _recv_exact(sock, 6)
    length = struct.unpack(">H", header[4:6])[0]
    if not 2 <= length <= 260:
        raise ModbusError(f"bad MBAP length {length}")
    return header + _recv_exact(sock, length)


class ModbusClient:
    """Blocking client with a timeout; reconnects lazily after any failure."""

    def __init__(self, host: str, port: int, unit: int = 1, timeout_s: float = 1.0) -> None:
        self.host, self.port, self.unit, self.timeout_s = host, port, unit, timeout_s
        self._sock: socket.socket | None = None
        self._tid = 0

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def read_holding(self, address: int, count: int) -> list[int]:
        pdu = self._call(READ_HOLDING, address, [count])
        if len(pdu) != 1 + 2 * count or pdu[0] != 2 * count:
            raise ModbusError(f"read of {count} registers answered with {len(pdu)} bytes")
        return list(struct.unpack(f">{count}H", pdu[1:]))

    def write_single(self, address: int, value: int) -> None:
        self._call(WRITE_SINGLE, address, [value])

    def write_multiple(self, address: int, values: list[int]) -> None:
        self._call(WRITE_MULTIPLE, address, values)

    def _call(self, function: int, address: int, values: list[int]) -> bytes:
        self._tid = (self._tid + 1) & 0xFFFF
        frame = encode_request(self._tid, self.unit, function, address, values)
        try:
            if self._sock is None:
                self._sock = socket.create_connection((self.host, self.port), self.timeout_s)
                self._sock.settimeout(self.timeout_s)
            self._sock.sendall(frame)
            reply = _read_frame(self._sock)
        except (OSError, ModbusError) as err:
            self.close()
            raise ModbusError(f"modbus {self.host}:{self.port}: {err}") from err
        tid, _unit, fc, rest = decode_request(reply)
        if tid != self._tid:
            self.close()
            raise ModbusError(f"transaction id {tid} != {self._tid}")
        if fc == function | 0x80:
            raise ModbusError(f"device exception code {rest[0] if rest else '?'} on fc {function}")
        if fc != function:
            raise ModbusError(f"reply function {fc} != {function}")
        return rest


class RegisterBank:
    """Holding registers behind a lock; ``on_write`` sees every accepted write."""

    def __init__(self, size: int, writable: set[int]) -> None:
        self.registers = [0] * size
        self.writable = writable
        self.lock = threading.Lock()
        self.on_write: Callable[[int, list[int]], None] = lambda _a, _v: None
        self.before_access: Callable[[], None] = lambda: None

    def handle(self, function: int, body: bytes) -> bytes:
        """Return the reply PDU (function byte included) for one request PDU."""
        try:
            if function == READ_HOLDING:
                address, count = struct.unpack(">HH", body[:4])
                if not 1 <= count <= 125 or address + count > len(self.registers):
                    return bytes([function | 0x80, ILLEGAL_ADDRESS])
                with self.lock:
                    self.before_access()
                    regs = self.registers[address : address + count]
                return bytes([function, 2 * count]) + struct.pack(f">{count}H", *regs)
            if function == WRITE_SINGLE:
                address, value = struct.unpack(">HH", body[:4])
                if not self._write(address, [value]):
                    return bytes([function | 0x80, ILLEGAL_ADDRESS])
                return bytes([function]) + body[:4]
            if function == WRITE_MULTIPLE:
                address, count, nbytes = struct.unpack(">HHB", body[:5])
                if nbytes != 2 * count or len(body) != 5 + nbytes:
                    return bytes([function | 0x80, ILLEGAL_VALUE])
                values = list(struct.unpack(f">{count}H", body[5:]))
                if not self._write(address, values):
                    return bytes([function | 0x80, ILLEGAL_ADDRESS])
                return bytes([function]) + body[:4]
        except struct.error:
            return bytes([function | 0x80, ILLEGAL_VALUE])
        return bytes([function | 0x80, ILLEGAL_FUNCTION])

    def _write(self, address: int, values: list[int]) -> bool:
        span = range(address, address + len(values))
        if not values or not all(a in self.writable for a in span):
            return False
        with self.lock:
            self.before_access()
            self.registers[address : address + len(values)] = values
            self.on_write(address, values)
        return True


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        with self.server.conns_lock:
            self.server.conns.add(sock)
        try:
            self._serve(sock)
        finally:
            with self.server.conns_lock:
                self.server.conns.discard(sock)

    def _serve(self, sock: socket.socket) -> None:
        while True:
            try:
                frame = _read_frame(sock)
                tid, unit, function, body = decode_request(frame)
            except (OSError, ModbusError):
                return
            pdu = self.server.bank.handle(function, body)
            sock.sendall(_MBAP.pack(tid, 0, len(pdu) + 1, unit) + pdu)


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], bank: RegisterBank) -> None:
        self.bank = bank
        self.conns: set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        super().__init__(address, _Handler)


class ModbusServer:
    """Serves a RegisterBank on host:port (port 0 picks a free one) in a thread."""

    def __init__(self, bank: RegisterBank, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _TCPServer((host, port), bank)
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> ModbusServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop open connections (like a device powering off)."""
        self._server.shutdown()
        self._server.server_close()
        with self._server.conns_lock:
            for conn in list(self._server.conns):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    log.debug("connection already closed")
        self._thread.join(timeout=5)

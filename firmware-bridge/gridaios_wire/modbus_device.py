"""A register map served as one Modbus TCP device by pymodbus.

The device answers only its own unit id (any other gets exception 11, "gateway target
device failed to respond"), holding registers on function codes 3, 6 and 16 (and 23),
input registers on function code 4. Reading or writing an address outside the map, or
writing a read-only register, answers exception 2. The registers live in plain Python
lists (``holding``, ``input``) guarded by ``lock``; ``before_access`` refreshes them
before a request is answered (measurements, physics), ``after_write`` sees every accepted
write. While ``answering()`` is false the device swallows every reply, as a powered-off
device would.

Used by the bridge's emulated inverter and the SunSpec test device (in a thread of their
own, ``start_in_thread``) and by the virtual field's battery face (on the field's loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

__all__ = ["Block", "RegisterDevice"]

log = logging.getLogger(__name__)
_INPUT_FUNCTIONS = {4}
_HOLDING_FUNCTIONS = {3, 6, 16, 22, 23}
_ANY_OTHER_UNIT = 0  # pymodbus: device id 0 serves every id not defined otherwise


@dataclass(slots=True)
class Block:
    """Contiguous registers from ``start``; ``writable`` holds absolute addresses."""

    start: int
    values: list[int]
    writable: set[int] = field(default_factory=set)

    def span(self, address: int, count: int) -> slice:
        return slice(address - self.start, address - self.start + count)


def _simdata(block: Block | None) -> list[SimData]:
    if block is None or not block.values:
        return [SimData(0, count=1, datatype=DataType.INVALID)]
    out: list[SimData] = []
    run_start = block.start
    for i in range(1, len(block.values) + 1):
        address = block.start + i
        at_end = i == len(block.values)
        if at_end or (address in block.writable) != (run_start in block.writable):
            values = block.values[run_start - block.start : i]
            out.append(
                SimData(
                    run_start,
                    values=values,
                    datatype=DataType.REGISTERS,
                    readonly=run_start not in block.writable,
                )
            )
            run_start = address
    return out


class RegisterDevice:
    def __init__(
        self,
        *,
        holding: Block | None,
        input_registers: Block | None = None,
        unit_id: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.holding = holding
        self.input = input_registers
        self.unit_id = unit_id
        self.host, self.port = host, port
        self.lock = threading.Lock()
        self.before_access: Callable[[], None] = lambda: None
        self.after_write: Callable[[int, list[int]], None] = lambda _a, _v: None
        self.answering: Callable[[], bool] = lambda: True
        self.counts: Counter[str] = Counter()
        self._server: ModbusTcpServer | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- the registers, as pymodbus asks for them -----------------------------------

    async def _action(
        self,
        function: int,
        _start: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        block = self.input if function in _INPUT_FUNCTIONS else self.holding
        if block is None or function not in _INPUT_FUNCTIONS | _HOLDING_FUNCTIONS:
            return ExcCodes.ILLEGAL_FUNCTION
        with self.lock:
            self.before_access()
            if values is None:
                self.counts["reads"] += 1
            else:
                written = [int(v) for v in values]
                block.values[block.span(address, count)] = written
                self.counts["writes"] += 1
                self.after_write(address, written)
            registers[: len(block.values)] = block.values
        return None

    async def _other_unit(self, *_args: object) -> ExcCodes | None:
        self.counts["other_unit"] += 1
        return ExcCodes.GATEWAY_NO_RESPONSE

    def _trace(self, sending: bool, packet: bytes) -> bytes:
        if sending and not self.answering():
            self.counts["unanswered"] += 1
            return b""  # a powered-off device does not answer
        return packet

    def _devices(self) -> list[SimDevice]:
        own = SimDevice(
            self.unit_id,
            simdata=(
                [SimData(0, values=False, datatype=DataType.BITS)],
                [SimData(0, values=False, datatype=DataType.BITS)],
                _simdata(self.holding),
                _simdata(self.input),
            ),
            action=self._action,
        )
        if self.unit_id == _ANY_OTHER_UNIT:
            return [own]
        anyone = SimDevice(
            _ANY_OTHER_UNIT,
            simdata=[SimData(0, count=65535, values=0, datatype=DataType.REGISTERS)],
            action=self._other_unit,
        )
        return [own, anyone]

    # --- lifecycle ------------------------------------------------------------------

    async def serve(self) -> RegisterDevice:
        """Start listening on the running loop; ``port`` 0 picks a free one."""
        self._server = ModbusTcpServer(
            self._devices(), address=(self.host, self.port), trace_packet=self._trace
        )
        await self._server.serve_forever(background=True)
        transport = self._server.transport
        sockets = getattr(transport, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("Modbus TCP device (unit %d) on %s:%d", self.unit_id, self.host, self.port)
        return self

    async def shutdown(self) -> None:
        """Stop listening and drop open connections (like a device powering off)."""
        if self._server is not None:
            server, self._server = self._server, None
            await server.shutdown()  # type: ignore[no-untyped-call]

    def start_in_thread(self) -> RegisterDevice:
        """Serve from a thread with its own event loop (for synchronous callers)."""
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.serve())
            except Exception as err:
                failure.append(err)
                started.set()
                return
            started.set()
            loop.run_forever()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="modbus-device", daemon=True)
        self._thread.start()
        started.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop a device started with ``start_in_thread``."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self.shutdown(), loop)
        with contextlib.suppress(Exception):
            future.result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        self._loop = self._thread = None

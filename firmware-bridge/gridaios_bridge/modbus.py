"""The bridge's Modbus TCP client: pymodbus's synchronous client behind a small surface.

Every failure (no connection, timeout, an exception response, a malformed reply) is one
``ModbusError`` whose message names the device and what went wrong; the connection is
dropped and re-made lazily on the next call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

__all__ = ["HOLDING", "INPUT", "ModbusClient", "ModbusError"]

HOLDING = 3  # function code: read holding registers
INPUT = 4  # function code: read input registers
MAX_READ = 125  # registers per read request (Modbus limit)
# pymodbus logs a dump of every unanswered request at ERROR; ours says it once, clearer.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


class ModbusError(Exception):
    """The device did not answer, answered badly, or returned an exception code."""


class ModbusClient:
    """Blocking client with a timeout and no hidden retries (the bridge's cycle retries)."""

    def __init__(self, host: str, port: int, unit: int = 1, timeout_s: float = 1.0) -> None:
        self.host, self.port, self.unit, self.timeout_s = host, port, unit, timeout_s
        self._client = ModbusTcpClient(host, port=port, timeout=timeout_s, retries=0)

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]

    def read(self, function: int, address: int, count: int) -> list[int]:
        """``count`` registers from ``address`` with function 3 (holding) or 4 (input),
        in as many requests as the 125-register limit needs."""
        out: list[int] = []
        while count > 0:
            n = min(count, MAX_READ)
            read = (
                self._client.read_holding_registers
                if function == HOLDING
                else self._client.read_input_registers
            )
            reply = self._call(partial(read, address, count=n, device_id=self.unit))
            if len(reply.registers) != n:
                raise ModbusError(
                    f"{self._where()}: read of {n} registers answered with {len(reply.registers)}"
                )
            out += reply.registers
            address, count = address + n, count - n
        return out

    def read_holding(self, address: int, count: int) -> list[int]:
        return self.read(HOLDING, address, count)

    def read_input(self, address: int, count: int) -> list[int]:
        return self.read(INPUT, address, count)

    def write_single(self, address: int, value: int) -> None:
        self._call(lambda: self._client.write_register(address, value, device_id=self.unit))

    def write_multiple(self, address: int, values: list[int]) -> None:
        self._call(lambda: self._client.write_registers(address, values, device_id=self.unit))

    def _where(self) -> str:
        return f"modbus {self.host}:{self.port} unit {self.unit}"

    def _call(self, request: Callable[[], ModbusPDU]) -> ModbusPDU:
        try:
            if not self._client.connected and not self._client.connect():  # type: ignore[no-untyped-call]
                raise ModbusError(f"{self._where()}: cannot connect")
            reply = request()
        except ModbusException as err:
            self._client.close()  # type: ignore[no-untyped-call]
            raise ModbusError(f"{self._where()}: {err}") from err
        except OSError as err:
            self._client.close()  # type: ignore[no-untyped-call]
            raise ModbusError(f"{self._where()}: {err}") from err
        if reply.isError():
            code = getattr(reply, "exception_code", "?")
            raise ModbusError(
                f"{self._where()}: device exception code {code} on fc {reply.function_code & 0x7F}"
            )
        return reply

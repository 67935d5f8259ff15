"""pymodbus's own TCP server (SimDevice + ModbusTcpServer) in a thread with its own event
loop: the independent Modbus device of the bridge's tests."""

from __future__ import annotations

import asyncio
import threading

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import SimDevice


class ThreadedModbusServer:
    def __init__(self, devices: SimDevice | list[SimDevice], port: int = 0) -> None:
        self.devices, self.port = devices, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusTcpServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ThreadedModbusServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop

            async def serve() -> None:
                self._server = ModbusTcpServer(self.devices, address=("127.0.0.1", self.port))
                await self._server.serve_forever(background=True)
                self.port = self._server.transport.sockets[0].getsockname()[1]  # type: ignore[union-attr]

            loop.run_until_complete(serve())
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        """Power off: stop listening and drop the connections."""
        if self._loop is None or self._server is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop = self._server = self._thread = None

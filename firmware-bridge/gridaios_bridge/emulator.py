"""An emulated battery inverter behind Modbus TCP, for tests and demos.

It follows the setpoint (or, in safe-default mode, the safe-default register) with a
first-order lag, limited to its rating and to the energy it holds, and integrates SoC.
Physics advance lazily on every request, on the device's own monotonic clock.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable

from gridaios_wire import battery_map as r
from gridaios_wire.modbus_device import Block, RegisterDevice

from gridaios_bridge.config import EmulatorConfig

__all__ = ["EmulatedInverter", "WriteRecord"]

log = logging.getLogger(__name__)


WriteRecord = r.SetpointWrite[float]  # ``at``: the device's monotonic seconds


class EmulatedInverter:
    def __init__(
        self,
        cfg: EmulatorConfig,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        unit_id: int = 1,
    ) -> None:
        self.cfg = cfg
        self._clock = clock
        self.regs = [0] * r.REG_COUNT
        self._server = RegisterDevice(
            holding=Block(0, self.regs, set(r.WRITABLE)), unit_id=unit_id, host=host, port=port
        )
        self._server.before_access = self._advance
        self._server.after_write = self._on_write
        self._soc_pct = cfg.initial_soc_pct
        self._power_kw = 0.0
        self._last_s = clock()
        self.writes: list[WriteRecord] = []  # every accepted write touching the setpoint
        self._publish()
        self.host, self.port = host, port

    def start(self) -> EmulatedInverter:
        self._server.start_in_thread()
        self.port = self._server.port
        log.info("emulated inverter on %s:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        self._server.stop()

    def reading(self) -> r.DeviceReading:
        with self._server.lock:
            self._advance()
            return r.decode_reading(list(self.regs))

    def _commanded_kw(self) -> float:
        return max(-self.cfg.rated_kw, min(self.cfg.rated_kw, r.followed_kw(self.regs)))

    def _advance(self) -> None:
        """Advance the physics to now (called with the device's lock held)."""
        now = self._clock()
        dt = max(0.0, now - self._last_s)
        self._last_s = now
        target = self._commanded_kw()
        tau = self.cfg.response_time_s
        alpha = 1.0 if tau <= 0 else 1.0 - math.exp(-dt / tau)
        self._power_kw += (target - self._power_kw) * alpha
        if (self._soc_pct <= 0 and self._power_kw > 0) or (
            self._soc_pct >= 100 and self._power_kw < 0
        ):
            self._power_kw = 0.0
        self._soc_pct -= self._power_kw * dt / 3600 / self.cfg.capacity_kwh * 100
        self._soc_pct = min(100.0, max(0.0, self._soc_pct))
        self._publish()

    def _publish(self) -> None:
        self.regs[r.MEASURED_KW_X10] = r.from_kw(self._power_kw)
        self.regs[r.SOC_PCT_X100] = r.soc_register(self._soc_pct)

    def _on_write(self, address: int, values: list[int]) -> None:
        record = r.note_write(self.regs, address, len(values), self._clock())
        if record is not None:
            self.writes.append(record)
            del self.writes[:-1000]


def serve_forever(cfg: EmulatorConfig, host: str, port: int, unit_id: int = 1) -> None:
    """Run the emulator until interrupted (``gridaios-bridge emulate-device``); it answers
    only ``unit_id``."""
    device = EmulatedInverter(cfg, host, port, unit_id=unit_id).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _sig, _frame: stop.set())
    signal.signal(signal.SIGINT, lambda _sig, _frame: stop.set())
    print(f"gridaios-bridge: emulated inverter listening on {host}:{device.port}", flush=True)
    stop.wait()
    device.stop()

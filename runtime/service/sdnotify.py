"""systemd's notify protocol (sd_notify(3)) in a few lines: READY, STOPPING, WATCHDOG.

A ``Type=notify`` unit gets ``NOTIFY_SOCKET`` (a unix datagram socket; ``@`` = abstract
namespace). ``gridaios run`` sends ``READY=1`` once the conductor is connected and
``WATCHDOG=1`` while the control loop is turning, so systemd restarts a hung loop
(``WatchdogSec=``). Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op.
A failed send is logged once and never stops control: the watchdog then fires, which
is the safe outcome for a process that cannot talk to its supervisor.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

# The control loop ticks every 20 ms; a cycle with a power flow takes well under a second.
# A loop silent for longer than half the watchdog interval is hung: stop feeding the dog.


def _address(path: str) -> str:
    return "\0" + path[1:] if path.startswith("@") else path


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.socket_path = env.get("NOTIFY_SOCKET") or None
        self.watchdog_s = watchdog_interval_s(env)
        self.sent: list[str] = []  # what was sent, for the status line and tests
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.socket_path is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields in one datagram; False when not under systemd or failed."""
        if self.socket_path is None:
            return False
        message = "\n".join(fields)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.connect(_address(self.socket_path))
                s.sendall(message.encode())
        except OSError as err:
            if not self._warned:
                self._warned = True
                log.warning("sd_notify to %s failed: %s", self.socket_path, err)
            return False
        self.sent.append(message)
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={status}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", "STATUS=draining")

    async def watchdog(
        self, alive_at: Callable[[], float | None], now: Callable[[], float] | None = None
    ) -> None:
        """Feed the watchdog every third of its interval while ``alive_at()`` is recent.

        ``alive_at`` returns the loop time of the control loop's last turn (None before
        the first). A loop that stops turning stops the ``WATCHDOG=1`` datagrams; systemd
        then kills and restarts the service.
        """
        if self.socket_path is None or self.watchdog_s is None:
            return
        clock = now or asyncio.get_running_loop().time
        every_s = self.watchdog_s / 3
        stale_s = self.watchdog_s / 2
        while True:
            if loop_is_alive(alive_at(), clock(), stale_s):
                self.notify("WATCHDOG=1")
            await asyncio.sleep(every_s)


def loop_is_alive(alive_at: float | None, now: float, stale_s: float) -> bool:
    return alive_at is not None and now - alive_at <= stale_s


def watchdog_interval_s(environ: Mapping[str, str]) -> float | None:
    """``WATCHDOG_USEC`` in seconds when it is meant for this process, else None."""
    usec = environ.get("WATCHDOG_USEC")
    pid = environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number of microseconds; no watchdog", usec)
        return None
    return value / 1e6 if value > 0 else None

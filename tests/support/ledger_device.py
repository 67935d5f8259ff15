"""An emulated battery behind a real asyncua OPC UA server, keeping a ledger.

Like a PLC: every ``scan_s`` it reads the command nodes and applies the command if
its key differs from the key it applied last (a real device remembers one key,
not all of them), so a runtime that re-sent an *older* key after a newer one would
show up as a duplicate in the ledger. Every write of the key node is counted
(re-sends with the same key are legal; they are retries).

The feeder load changes every second (seeded), so a peak-shaving conductor with a
1 s cadence proposes a new setpoint about every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from asyncua import Server, ua

NODES = {
    "meter": "substation.p_kw",
    "soc": "bat1.soc_pct",
    "p": "bat1.p_kw",
    "setpoint": "bat1.p_setpoint_kw",
    "key": "bat1.cmd_key",
    "applied": "bat1.cmd_key_applied",
}


@dataclass(frozen=True, slots=True)
class Applied:
    key: str
    value_kw: float


@dataclass
class LedgerDevice:
    endpoint: str
    seed: int = 1
    scan_s: float = 0.15
    publish_s: float = 0.05
    soc_pct: float = 60.0
    ledger: list[Applied] = field(default_factory=list)
    key_writes: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _error: BaseException | None = None

    # --- test-facing (any thread) -----------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="ledger-device", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError(f"ledger device did not start on {self.endpoint}: {self._error}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(30)

    def snapshot(self) -> tuple[list[Applied], dict[str, int]]:
        with self._lock:
            return list(self.ledger), dict(self.key_writes)

    # --- device side (its own thread and loop) ----------------------------------

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as err:
            self._error = err
            self._ready.set()
            raise

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace("urn:gridaios:ledger-device")
        assert idx == 2
        nodes: dict[str, Any] = {}
        for role, name in NODES.items():
            is_key = role in ("key", "applied")
            initial = ua.Variant(
                "" if is_key else 0.0, ua.VariantType.String if is_key else ua.VariantType.Double
            )
            var = await server.nodes.objects.add_variable(ua.NodeId(name, idx), name, initial)
            if role in ("setpoint", "key"):
                await var.set_writable()
            nodes[role] = var
        aspace = server.iserver.aspace

        async def on_key(_handle: Any, value: ua.DataValue) -> None:
            key = str(value.Value.Value or "")
            with self._lock:
                self.key_writes[key] = self.key_writes.get(key, 0) + 1

        aspace.add_datachange_callback(nodes["key"].nodeid, ua.AttributeIds.Value, on_key)
        async with server:
            self._ready.set()
            await self._loop_forever(nodes)

    async def _loop_forever(self, nodes: dict[str, Any]) -> None:
        assert self._stop is not None
        rng = random.Random(self.seed)
        base_kw = 1200.0
        applied_key = ""
        setpoint_kw = 0.0
        second = -1
        next_scan = 0.0
        while not self._stop.is_set():
            now_mono = time.monotonic()
            if now_mono >= next_scan:
                next_scan = now_mono + self.scan_s
                key = str(await nodes["key"].read_value() or "")
                if key and key != applied_key:
                    setpoint_kw = float(await nodes["setpoint"].read_value() or 0.0)
                    applied_key = key
                    with self._lock:
                        self.ledger.append(Applied(key, setpoint_kw))
            if int(now_mono) != second:
                second = int(now_mono)
                base_kw = rng.uniform(1130.0, 1330.0)
            ts = datetime.now(UTC)

            def dv(
                v: object, vtype: ua.VariantType = ua.VariantType.Double, ts: datetime = ts
            ) -> ua.DataValue:
                return ua.DataValue(ua.Variant(v, vtype), SourceTimestamp=ts, ServerTimestamp=ts)

            await nodes["meter"].write_value(dv(base_kw - setpoint_kw))
            await nodes["p"].write_value(dv(setpoint_kw))
            await nodes["soc"].write_value(dv(self.soc_pct))
            await nodes["applied"].write_value(dv(applied_key, ua.VariantType.String))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.publish_s)

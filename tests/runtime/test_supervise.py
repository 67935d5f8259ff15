from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from runtime.service.jobs import RetryPolicy
from runtime.service.supervise import FunctionService, ServiceFailed, ServiceState, Supervisor

FAST = RetryPolicy(base_s=0.001, max_s=0.005)


def test_a_failing_service_is_restarted_then_serves_and_drains() -> None:
    runs: list[int] = []
    drained: list[bool] = []

    async def flaky(ready: Callable[[], None]) -> None:
        runs.append(1)
        if len(runs) < 3:
            raise ConnectionError("field not up yet")
        ready()
        try:
            await asyncio.Event().wait()
        finally:
            drained.append(True)

    async def main() -> None:
        up = asyncio.Event()
        sup = Supervisor(
            [FunctionService("conductor", flaky)],
            backoff=FAST,
            on_change=lambda name, h: up.set() if h.state is ServiceState.READY else None,
        )
        task = asyncio.create_task(sup.run())
        async with asyncio.timeout(10):
            await up.wait()
        assert sup.ready()
        health = sup.health()
        assert health["status"] == "ok"
        assert health["services"]["conductor"]["restarts"] == 2
        assert "field not up yet" in health["services"]["conductor"]["last_error"]
        sup.stop()
        await task
        assert sup.health()["services"]["conductor"]["state"] == ServiceState.STOPPED

    asyncio.run(main())
    assert len(runs) == 3 and drained == [True]


def test_restart_limit_stops_everything_and_names_the_service() -> None:
    other_cancelled: list[bool] = []

    async def broken(ready: Callable[[], None]) -> None:
        raise RuntimeError("bad certificate")

    async def healthy(ready: Callable[[], None]) -> None:
        ready()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            other_cancelled.append(True)
            raise

    sup = Supervisor(
        [FunctionService("opcua", broken), FunctionService("historian", healthy)],
        backoff=FAST,
        max_restarts=2,
    )
    with pytest.raises(ServiceFailed, match=r"opcua failed 3 times.*bad certificate"):
        asyncio.run(sup.run())
    assert other_cancelled == [True]
    assert sup.health()["status"] == "failed"

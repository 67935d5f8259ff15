"""Wait on a condition with a deadline (never sleep-then-assert)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], bool], timeout_s: float = 10.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() >= deadline:
            raise AssertionError(f"not true within {timeout_s} s: {what or condition}")
        await asyncio.sleep(0.01)

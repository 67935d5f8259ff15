"""SimPy processes for what happens between the devices and the runtime.

* ``CommsLink``: one direction of a link on SimPy's clock: each message is
  delivered after latency +/- jitter, a seeded share is lost, and nothing gets
  through while a ``comms_loss`` event holds the link down.
* ``FaultSchedule``: the scenario's scripted faults (device offline, frozen
  telemetry, line trip, comms loss) switched on and off at their SimPy times,
  so every process asks one object "is X in force now?".

Deterministic: the same scenario and seed give the same deliveries and losses.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import simpy

from simulator.scenario import CommsSpec, EventKind, Scenario, ScenarioEvent

T = TypeVar("T")


class FaultSchedule:
    """Which faults are in force, driven by SimPy processes started at construction."""

    def __init__(self, env: simpy.Environment, scenario: Scenario) -> None:
        self._active: Counter[tuple[EventKind, str]] = Counter()
        self.log: list[tuple[float, str, ScenarioEvent]] = []  # (sim s, "start"/"end", event)
        self._listeners: list[Callable[[ScenarioEvent, bool], None]] = []
        for event in scenario.events:
            env.process(self._run(env, event, scenario.event_offset_s(event)))

    def on_change(self, listener: Callable[[ScenarioEvent, bool], None]) -> None:
        self._listeners.append(listener)

    def active(self, kind: EventKind, element: str = "") -> bool:
        return self._active[(kind, element)] > 0

    def _run(
        self, env: simpy.Environment, event: ScenarioEvent, offset_s: float
    ) -> Generator[Any, Any, None]:
        yield env.timeout(offset_s)
        self._switch(env, event, True)
        yield env.timeout(event.duration_s)
        self._switch(env, event, False)

    def _switch(self, env: simpy.Environment, event: ScenarioEvent, on: bool) -> None:
        self._active[(event.kind, event.element)] += 1 if on else -1
        self.log.append((float(env.now), "start" if on else "end", event))
        for listener in self._listeners:
            listener(event, on)


@dataclass(frozen=True, slots=True)
class Delivered(Generic[T]):
    sent_at_s: float
    delivered_at_s: float
    item: T


class CommsLink(Generic[T]):
    """One direction of a link: latency, jitter, loss and outages, on SimPy's clock."""

    def __init__(
        self,
        env: simpy.Environment,
        spec: CommsSpec,
        *,
        is_down: Callable[[], bool],
        seed: int,
        name: str,
    ) -> None:
        self.name = name
        self._env = env
        self._spec = spec
        self._is_down = is_down
        self._rng = np.random.default_rng([seed, sum(map(ord, name))])
        self._inbox: deque[Delivered[T]] = deque()
        self.counts: Counter[str] = Counter()

    @property
    def ideal(self) -> bool:
        return self._spec.latency_ms == 0 and self._spec.jitter_ms == 0 and not self._spec.loss_pct

    def send(self, item: T) -> None:
        self.counts["sent"] += 1
        if self._is_down():
            self.counts["dropped_link_down"] += 1
            return
        if self._spec.loss_pct and self._rng.random() * 100.0 < self._spec.loss_pct:
            self.counts["lost"] += 1
            return
        delay_s = self._spec.latency_ms / 1000.0
        if self._spec.jitter_ms:
            delay_s += float(self._rng.uniform(-1.0, 1.0)) * self._spec.jitter_ms / 1000.0
        delay_s = max(delay_s, 0.0)
        if delay_s == 0.0:
            self._deliver(self._env.now, item)
        else:
            self._env.process(self._later(delay_s, item))

    def receive(self) -> list[Delivered[T]]:
        """Everything delivered since the last call, in delivery order."""
        out = list(self._inbox)
        self._inbox.clear()
        return out

    def _later(self, delay_s: float, item: T) -> Generator[Any, Any, None]:
        sent = self._env.now
        yield self._env.timeout(delay_s)
        if self._is_down():  # the link went down while the message was in flight
            self.counts["dropped_link_down"] += 1
            return
        self._deliver(sent, item)

    def _deliver(self, sent_at_s: float, item: T) -> None:
        self.counts["delivered"] += 1
        self._inbox.append(Delivered(sent_at_s=sent_at_s, delivered_at_s=self._env.now, item=item))

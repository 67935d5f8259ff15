"""What production's conductor gives the gate, kept for one shadow side.

The conductor gates each command with its dispatch history (from the event log) and a
seasonal-naive feeder forecast (from the historian) (``runtime.decide.gate_inputs``). A shadow
side has neither a log nor a historian, so it keeps the equivalents of its own run and
hands them to the same pure functions:

* its sends: every dispatch the side let through, stamped when it went out (the outbox
  records ``dispatch.sent`` before the write, so a command lost on the way counts too);
* its telemetry: the good samples its simulated field delivered at every step, and
  before the run the inputs' day before (the uncontrolled load on the feeder meter,
  batteries idle: the forecast sums the meter and the storage outputs, so the split
  does not change it). No day before: no forecast, and the gate holds the measured
  load flat, as production does without history.

So ramp-from-last-dispatch, rate limits, minimum on/off times and the plan-level
thermal check decide in a shadow run as they would in production on the same feeder.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from runtime.config import site
from runtime.config.model import SiteConfig
from runtime.decide import gate_inputs
from runtime.decide.gate_inputs import GateInputs
from runtime.shadow.inputs import ShadowInputs
from runtime.shadow.world import SideWorld
from safety import ApprovedCommand, Command, Dispatch, Envelope, StateSnapshot

DAY = timedelta(days=1)


class SideGate:
    def __init__(
        self, config: SiteConfig, envelope: Envelope, inputs: ShadowInputs, world: SideWorld
    ) -> None:
        self.envelope = envelope
        self.inputs = inputs
        self.world = world
        self.lookback = gate_inputs.lookback(envelope)
        self.sent: dict[str, Dispatch] = {}  # dispatch id -> its send, in send order
        self.last_key: dict[str, str] = {}  # asset -> id of its newest send
        self._meter = site.point_id(config.feeder.meter, "p_kw")
        self._storage = {site.point_id(b, "p_kw") for b in world.batteries}

    def inputs_for(self, command: Command, snapshot: StateSnapshot, now: datetime) -> GateInputs:
        """The history and forecast the conductor's gate would take for ``command`` now."""
        history = gate_inputs.pick(
            self._sent_since(now - self.lookback, now),
            self.last_key.get(command.asset),
            self.sent.get,
            command.asset,
            now,
            exclude=command.key,
        )
        forecast, note = gate_inputs.forecast_from(
            self.samples, self.envelope, snapshot, command, now
        )
        return gate_inputs.recorded(history, forecast, note)

    def record_sent(self, approved: ApprovedCommand, now: datetime) -> None:
        """``approved`` went out at ``now`` (whether or not the device took it)."""
        self.sent[approved.key] = Dispatch(
            asset=approved.asset, kind=approved.command.kind, value=approved.value, at=now
        )
        self.last_key[approved.asset] = approved.key

    def _sent_since(self, since: datetime, now: datetime) -> list[str]:
        """Ids of the sends in ``[since, now]``, in send order."""
        ids: list[str] = []
        for did, dispatch in reversed(self.sent.items()):
            if dispatch.at < since:
                break  # sends are in time order: the rest are older
            if dispatch.at <= now:
                ids.append(did)
        ids.reverse()
        return ids

    def samples(
        self, points: Sequence[str], since: datetime, until: datetime
    ) -> Iterator[tuple[str, datetime, float]]:
        """Good samples of ``points`` in ``[since, until)``: what the historian would return."""
        yield from self._day_before(points, since, until)
        start, step_s = self.inputs.start, self.inputs.step_s
        for point in points:
            values = self.world.telemetry.get(point, [])
            for i in _indices(start, step_s, since, until, len(values)):
                value = values[i]
                if math.isfinite(value):
                    yield point, start + timedelta(seconds=i * step_s), value

    def _day_before(
        self, points: Sequence[str], since: datetime, until: datetime
    ) -> Iterator[tuple[str, datetime, float]]:
        yesterday = self.inputs.yesterday_kw
        if yesterday is None:
            return
        origin, step_s = self.inputs.start - DAY, self.inputs.step_s
        until = min(until, self.inputs.start)  # from the start on, the run's own telemetry
        for point in points:
            if point != self._meter and point not in self._storage:
                continue
            for i in _indices(origin, step_s, since, until, len(yesterday)):
                value = float(yesterday[i]) if point == self._meter else 0.0
                yield point, origin + timedelta(seconds=i * step_s), value


def _indices(origin: datetime, step_s: float, since: datetime, until: datetime, n: int) -> range:
    """Indices ``i < n`` of the grid ``origin + i * step_s`` that fall in ``[since, until)``."""
    first = max(0, math.ceil((since - origin).total_seconds() / step_s))
    stop = min(n, math.ceil((until - origin).total_seconds() / step_s))
    return range(first, max(first, stop))

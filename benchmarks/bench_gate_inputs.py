"""The gate's dispatch history for one cycle gating three commands, on a log of 5,000 sends.

``gate_inputs.history_cycle``: ``SendHistory.history`` for bat1, load1 and bat1 again at
one instant, after one new dispatch was sent (what a conductor cycle does), vs the same
three histories as the gate took them before ``SendHistory``: per command, a query of
every ``dispatch.sent`` in the window (no index on time: every send of the log is
visited), first sends cached per dispatch. Both give the same histories (asserted).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.util import row
from runtime.config import site
from runtime.config.model import load_config
from runtime.decide import gate_inputs
from runtime.demo.feeder import DEFAULT_CONFIG
from runtime.log import events as ev
from runtime.log import records
from runtime.log.eventlog import EventLog, Pending
from safety import Dispatch, Envelope

T0 = datetime(2026, 7, 1, tzinfo=UTC)
SENDS = 5000
CYCLES = 20
COMMANDS = (("bat1", None), ("load1", None), ("bat1", "recheck"))


def _chain(i: int) -> list[Pending]:
    did, at = f"d{i}", T0 + timedelta(minutes=i)
    command = ev.CommandBody(
        key=did,
        asset="bat1" if i % 2 else "load1",
        kind="active_power_kw",
        value=float(i % 200),
        start=at,
        end=at + timedelta(minutes=15),
        origin="agent",
    )
    bodies: list[Any] = [
        ev.DispatchApproved(command=command, value=command.value, source="f", rollback_kw=0.0),
        ev.DispatchSent(value=command.value, source="f", rollback_kw=0.0, attempt=1),
    ]
    return [Pending(*ev.dump(b), at, did) for b in bodies]


class _PerCommandQuery:
    """The history as read before ``SendHistory``: a window query per command."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.first: dict[str, Dispatch] = {}

    def history(
        self,
        last_key: Mapping[str, str],
        envelope: Envelope,
        asset: str,
        now: datetime,
        *,
        exclude: str | None = None,
    ) -> tuple[Dispatch, ...]:
        since = now - gate_inputs.lookback(envelope)
        window = self.log.events(kinds=("dispatch.sent",), since=since, until=now)
        ids = dict.fromkeys(e.dispatch_id for e in window if e.dispatch_id is not None)
        if asset in last_key:
            ids[last_key[asset]] = None
        out = []
        for did in ids:
            found = self.first.get(did)
            if found is None:
                (approved,) = self.log.events(dispatch_id=did, kinds=("dispatch.approved",))
                (sent, *_) = self.log.events(dispatch_id=did, kinds=("dispatch.sent",))
                found = records.command_dispatch(
                    approved.payload["command"], float(sent.payload["value"]), sent.ts
                )
                self.first[did] = found
            if did != exclude and found.asset == asset and found.at <= now:
                out.append(found)
        return tuple(sorted(out, key=lambda d: (d.at, d.kind.value, d.value)))


def run() -> list[dict[str, Any]]:
    envelope = site.envelope(load_config(DEFAULT_CONFIG))
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as d:
        log = EventLog(Path(d) / "events.db")
        log.append_many([p for i in range(SENDS) for p in _chain(i)], validate=False)
        sends, before = gate_inputs.SendHistory(log), _PerCommandQuery(log)
        t_new: list[float] = []
        t_old: list[float] = []
        for i in range(SENDS, SENDS + CYCLES):
            log.append_many(_chain(i), validate=False)  # one new dispatch per cycle
            now = T0 + timedelta(minutes=i)
            last_key = {"bat1": f"d{i - (i + 1) % 2}", "load1": f"d{i - i % 2}"}
            for reader, times in ((sends, t_new), (before, t_old)):
                t = time.perf_counter()
                got = [reader.history(last_key, envelope, a, now, exclude=x) for a, x in COMMANDS]
                times.append(time.perf_counter() - t)
            assert got == [
                sends.history(last_key, envelope, a, now, exclude=x) for a, x in COMMANDS
            ]
        log.close()
    window_s = gate_inputs.lookback(envelope).total_seconds()
    extra = {"sends": SENDS, "commands_per_cycle": len(COMMANDS), "lookback_s": window_s}
    return [
        row(
            "gate_inputs.history_cycle",
            min(t_new) * 1e3,
            "ms",
            min(t_old) * 1e3,
            higher_is_better=False,
            **extra,
        )
    ]


if __name__ == "__main__":
    import json

    for r in run():
        print(json.dumps(r))

"""A hand-run site for the hierarchy demo (docs/hierarchy.md): a real conductor on a
scripted site state (the demo feeder's assets, a constant demand, battery at rest),
following the controller over a real broker.

    python -m runtime.demo.hierarchy --site north --load-kw 1250 --broker 127.0.0.1:1883

Every proposal waits for an operator (nothing is sent: there is no field), so what
it shows is the decision side: the threshold in force, the proposals against it,
the fall-back when the controller dies and the return when it comes back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

from connectors import Sample
from connectors.sample import SampleQuality
from runtime.conductor.loop import Conductor
from runtime.config.model import HierarchyConfig, SiteConfig, load_config
from runtime.core.clock import Clock, WallClock
from runtime.log.eventlog import EventLog

REPO = Path(__file__).resolve().parents[2]
DEMO_FEEDER = REPO / "configs" / "demo-feeder.yaml"


def scripted_config(site: str, hierarchy: dict[str, Any], *, cadence_s: float) -> SiteConfig:
    """The demo feeder as site ``site``, without a network, every proposal to an operator."""
    config = load_config(DEMO_FEEDER)
    policy = config.policy.peak_shaving.model_copy(update={"cadence_s": cadence_s})
    return config.model_copy(
        update={
            "site": config.site.model_copy(update={"id": site}),
            "feeder": config.feeder.model_copy(update={"network": None}),
            "policy": config.policy.model_copy(update={"peak_shaving": policy}),
            "approvals": config.approvals.model_copy(
                update={"auto_approve_max_kw": 0.0, "two_person_min_kw": 10_000.0}
            ),
            "hierarchy": HierarchyConfig.model_validate(hierarchy),
        }
    )


def feed(conductor: Conductor, clock: Clock, load_kw: float, seq: Iterator[int]) -> None:
    """The site's state as its field would report it: good, fresh, battery at rest."""
    now = clock()
    values = {
        "substation.p_kw": load_kw,
        "bat1.p_kw": 0.0,
        "bat1.soc_pct": 80.0,
        "bat1.p_setpoint_kw": 0.0,
        "bat1.cmd_key": 0.0,
        "bat1.cmd_key_applied": 0.0,
    }
    for point, value in values.items():
        conductor._on_sample(
            Sample(
                point=point,
                value=value,
                unit="",
                quality=SampleQuality.GOOD,
                source_ts=now,
                received_ts=now,
                sequence=next(seq),
            )
        )


async def run_site(args: argparse.Namespace) -> None:
    host, _, port = args.broker.partition(":")
    hierarchy = {
        "broker": {"host": host, "port": int(port or 1883), "allow_insecure": True},
        "controller_timeout_s": args.timeout_s,
        "known_models": {"forecast": ["persistence"]},
    }
    config = scripted_config(args.site, hierarchy, cadence_s=args.cadence_s)
    clock = WallClock()
    db = args.db or REPO / "var" / "hierarchy" / f"{args.site}.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    events = EventLog(db)
    conductor = Conductor(config, events, clock)
    link = conductor.link
    assert link is not None
    seq = count()
    feed(conductor, clock, args.load_kw, seq)
    link.start()
    tasks = [
        asyncio.create_task(link.watch(conductor.state.snapshot)),
        asyncio.create_task(conductor.run()),
    ]
    local_kw = config.policy.peak_shaving.threshold_kw
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.cadence_s)
            feed(conductor, clock, args.load_kw, seq)
            threshold = link.threshold_kw(config.policy.peak_shaving)
            want = max(0.0, args.load_kw - threshold)
            print(
                f"{clock():%H:%M:%S} {args.site}: {link.mode.value:<11} threshold "
                f"{threshold:g} kW (local {local_kw:g}) -> discharge {want:g} kW; "
                f"policy {link.in_use.policy} {link.in_use.models or ''}",
                flush=True,
            )
    finally:
        conductor.request_stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await link.close()
        events.close()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m runtime.demo.hierarchy", description=__doc__)
    p.add_argument("--site", required=True, help="site id, as listed in the controller config")
    p.add_argument("--load-kw", type=float, required=True, help="demand without storage")
    p.add_argument("--broker", default="127.0.0.1:1883", help="HOST:PORT (plain MQTT)")
    p.add_argument("--timeout-s", type=float, default=15.0, help="controller_timeout_s")
    p.add_argument("--cadence-s", type=float, default=5.0, help="decision cycle")
    p.add_argument("--db", type=Path, default=None, help="event log (var/hierarchy/SITE.db)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(run_site(args))  # until SIGTERM or Ctrl-C


if __name__ == "__main__":
    main()

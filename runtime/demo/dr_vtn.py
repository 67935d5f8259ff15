"""A utility's OpenADR 2.0b VTN for the DR demo: openleadr's own ``OpenADRServer``.

Run as a separate process (``python -m runtime.demo.dr_vtn --port P --ven-id V``). It
registers that VEN, takes events as JSON lines on stdin (``{"event_id", "start",
"minutes", "target_kw", "program"}``, start in UTC ISO) and reports what it sees as JSON
lines on stdout: ``{"ready": port}``, ``{"registered": ven_id}``, ``{"opt": ...,
"event_id": ...}``, ``{"report": resource, "r_id": ..., "value": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import warnings
from datetime import datetime, timedelta
from typing import Any


def _say(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)


async def serve(port: int, ven_id: str) -> None:
    import logging

    from openleadr import OpenADRServer

    logging.getLogger("openleadr").setLevel(logging.ERROR)  # set to INFO at its import

    server = OpenADRServer(
        vtn_id="UTILITY-VTN",
        http_port=port,
        http_host="127.0.0.1",
        requested_poll_freq=timedelta(seconds=1),
        show_fingerprint=False,
        show_server_cert_domain=False,
    )

    def registration(info: dict[str, Any]) -> tuple[str, str]:
        _say({"registered": ven_id})
        return ven_id, "reg-demo"

    def register_report(
        ven_id: str,
        resource_id: str,
        measurement: str,
        unit: str,
        scale: str,
        min_sampling_interval: timedelta,
        max_sampling_interval: timedelta,
    ) -> tuple[Any, timedelta]:
        def got(data: list[tuple[datetime, float]]) -> None:
            for _, value in data:
                _say({"report": resource_id, "value": value})

        return got, min_sampling_interval

    server.add_handler("on_create_party_registration", registration)
    server.add_handler("on_register_report", register_report)
    await server.run_async()
    _say({"ready": port})
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            spec = json.loads(line)

            def opted(ven_id: str, event_id: str, opt_type: str) -> None:
                _say({"opt": opt_type, "event_id": event_id})

            server.add_event(
                ven_id,
                "LOAD_DISPATCH",
                "setpoint",
                [
                    {
                        "dtstart": datetime.fromisoformat(spec["start"]),
                        "duration": timedelta(minutes=float(spec["minutes"])),
                        "signal_payload": float(spec["target_kw"]),
                    }
                ],
                event_id=spec["event_id"],
                callback=opted,
                market_context=spec["program"],
            )
            _say({"added": spec["event_id"]})
    finally:
        await server.stop()


def main() -> None:
    warnings.simplefilter("ignore")  # openleadr's own deprecation warnings
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ven-id", required=True)
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("openleadr").setLevel(logging.ERROR)
    asyncio.run(serve(args.port, args.ven_id))


if __name__ == "__main__":
    main()

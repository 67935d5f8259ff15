"""Topic names of the gridaios JSON wire format v1."""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "gridaios/v1"
DEVICE_KINDS = ("telemetry", "ack", "status")


def telemetry(site: str, device: str) -> str:
    return f"{PREFIX}/{site}/{device}/telemetry"


def command(site: str, device: str) -> str:
    return f"{PREFIX}/{site}/{device}/cmd"


def runtime_status(site: str) -> str:
    return f"{PREFIX}/{site}/runtime/status"


def heartbeat(site: str) -> str:
    return f"{PREFIX}/{site}/runtime/heartbeat"


def subscriptions(site: str) -> list[str]:
    return [f"{PREFIX}/{site}/+/{kind}" for kind in DEVICE_KINDS]


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    device: str
    kind: str


def parse(site: str, topic: str) -> DeviceTopic | None:
    """``gridaios/v1/<site>/<device>/<kind>`` -> (device, kind); None if it is not one of ours."""
    parts = topic.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != PREFIX or parts[2] != site:
        return None
    if parts[4] not in DEVICE_KINDS or not parts[3] or parts[3] == "runtime":
        return None
    return DeviceTopic(parts[3], parts[4])

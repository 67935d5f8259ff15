"""GET /api/network: the demo feeder's model as the single-line diagram draws it."""

from __future__ import annotations

import json
from pathlib import Path

from runtime.api.routes_network import describe
from simulator.netyaml import load_network

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_feeder_as_plain_data() -> None:
    out = describe(load_network(REPO / "configs" / "networks" / "demo-feeder.yaml"))
    json.dumps(out)  # plain JSON types only (no numpy scalars)
    assert [b["id"] for b in out["buses"]] == ["grid", "sub", "n1", "n2", "n3", "n4", "n5", "n6"]
    assert [b["id"] for b in out["buses"] if b["slack"]] == ["grid"]
    t1 = next(b for b in out["branches"] if b["id"] == "T1")
    assert t1["transformer"] is True and t1["rating_kva"] == 1600
    assert not any(b["transformer"] for b in out["branches"] if b["id"].startswith("L"))
    assert {"id": "bat1", "bus": "n4", "kind": "battery"} in out["assets"]

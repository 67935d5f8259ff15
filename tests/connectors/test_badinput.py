"""Bad-input accounting: every refusal counted, raw bytes kept, a flood rate-limited."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import REGISTRY

from connectors import BadInput, BadInputReason, MemoryDeadLetters


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 7, 15, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_counted_per_reason_kept_raw_and_a_flood_is_capped() -> None:
    sink, clock = MemoryDeadLetters(), Clock()
    bad = BadInput("flood-src", sink, clock, max_per_minute=3)
    before = REGISTRY.get_sample_value(
        "gridaios_connector_bad_input_total", {"source": "flood-src", "reason": "malformed_json"}
    )
    for i in range(5):
        bad.report(BadInputReason.MALFORMED_JSON, "not JSON", f"junk{i}".encode())
    assert bad.counts == {"malformed_json": 5}
    assert [item[3] for item in sink.items] == [b"junk0", b"junk1", b"junk2"]
    after = REGISTRY.get_sample_value(
        "gridaios_connector_bad_input_total", {"source": "flood-src", "reason": "malformed_json"}
    )
    assert after == (before or 0) + 5
    suppressed = REGISTRY.get_sample_value(
        "gridaios_connector_dead_letters_total", {"source": "flood-src", "outcome": "suppressed"}
    )
    assert suppressed == 2
    clock.now += timedelta(seconds=61)
    bad.report(BadInputReason.OVERSIZED, "too big", b"x")
    assert sink.items[-1][2] == "oversized: too big"


def test_a_failing_sink_does_not_stop_the_pipeline() -> None:
    def broken(*args: object) -> None:
        raise OSError("disk full")

    bad = BadInput("broken-sink", broken, Clock())
    bad.report(BadInputReason.WRONG_TYPE, "x", b"x")
    assert bad.counts == {"wrong_type": 1}


def test_connectors_import_only_safety_of_ours() -> None:
    ours = {"runtime", "simulator", "forecasting", "tests", "benchmarks"}
    root = Path(__file__).resolve().parents[2] / "connectors"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ours]
    assert offenders == []

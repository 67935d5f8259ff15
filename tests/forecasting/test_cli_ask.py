import json
from pathlib import Path

import pytest

from runtime.cli import main

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs" / "demo-feeder.yaml")
ROUTER = str(REPO / "configs" / "router.yaml")


def _ask(text: str, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    code = main(["ask", text, "--config", CONFIG, "--router", ROUTER, "--no-llm", "--json", *extra])
    assert code == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return out


def test_rule_intent_goes_through_the_gate_and_is_never_sent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = _ask("charge battery 1 at 300 kW", capsys)
    assert out["tier"] == "rules"
    assert out["intent"] == {"action": "charge", "asset": "bat1", "value": -300.0, "until": ""}
    verdict = out["verdict"]
    assert isinstance(verdict, dict)
    assert verdict["outcome"] == "clamped"
    assert {c["constraint"] for c in verdict["constraints"]} >= {"limit.min"}
    assert out["dispatched"] is False
    assert out["approval"] == "two_operators"


def test_unknown_asset_is_refused_before_the_gate(capsys: pytest.CaptureFixture[str]) -> None:
    out = _ask("hold battery 7 at 50 kW until 19:00", capsys)
    assert out["kind"] == "refused" and out["command"] is None and out["verdict"] is None
    assert "battery 7" in str(out["message"])  # the answer names what it could not find


def test_without_state_the_gate_fails_closed(capsys: pytest.CaptureFixture[str]) -> None:
    out = _ask("hold battery 1 at 50 kW", capsys, "--state", "none")
    verdict = out["verdict"]
    assert isinstance(verdict, dict)
    assert verdict["outcome"] == "rejected"
    assert verdict["constraints"][0]["constraint"] == "state.missing"


def test_not_understood_falls_back_to_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    out = _ask("make the evening cheaper somehow", capsys)
    assert out["tier"] == "fallback"
    assert out["intent"]["action"] == "unknown"  # type: ignore[index]
    assert out["command"] is None and out["verdict"] is None


def test_bad_zone_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "stop battery 1", "--config", CONFIG, "--tz", "Mars/Base"]) == 2
    assert "unknown time zone" in capsys.readouterr().err

"""The real local LLM: the shipped SmolLM2-135M GGUF, loaded offline, generating. Kept short."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from forecasting.assistant import Assistant
from forecasting.intent import Intent
from forecasting.llm import LocalLLM, default_model_path
from forecasting.router import Router, RouterConfig
from runtime.cli import main

REPO = Path(__file__).resolve().parents[2]
RECORD = {
    "outcome": "clamped",
    "asset": "bat1",
    "value_kw": 180.0,
    "requested_kw": 250.0,
    "start": "18:30",
    "end": "18:45",
    "reason": "feeder import 1230 kW above threshold 1100 kW",
    "constraint": "soc.window",
}


@pytest.fixture(scope="module")
def llm() -> LocalLLM:
    return LocalLLM()


@pytest.fixture
def assistant(llm: LocalLLM) -> Iterator[Assistant]:
    # generous timeouts: these tests are about what the model says, not how fast (CI is shared)
    config = RouterConfig.model_validate(
        {
            "tiers": {"rules": {"timeout_s": 5}, "llm": {"timeout_s": 120}},
            "tasks": {"intent": ["rules", "llm"], "explain": ["llm"]},
        }
    )
    router = Router(config)
    yield Assistant(router, llm=lambda: llm)
    router.close()


def test_gguf_ships_in_an_installed_package() -> None:
    path = default_model_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000


def test_schema_constrained_intent_is_valid_json_for_the_model(llm: LocalLLM) -> None:
    intent, done = llm.intent("please discharge the community battery bat1 with 120 kilowatts")
    assert isinstance(intent, Intent)  # validated by pydantic, whatever the grammar did
    assert done.completion_tokens > 0 and done.prompt_tokens > 0


def test_router_sends_free_text_to_the_llm_tier_and_counts_tokens(assistant: Assistant) -> None:
    routed = assistant.intent("could you get bat1 to soak up 80 kW of solar for a while")
    assert routed.attempts[0] == "rules: declined"
    assert routed.attempts[1] in ("llm: answered", "llm: declined")
    assert assistant.router.metrics["llm"].tokens > 0
    if routed.fallback:  # the model's intent was invalid or not grounded: the note says why
        assert routed.value.intent.action == "unknown"
        assert "rejected" in routed.value.note
    else:
        assert routed.tier == "llm" and routed.value.intent.asset == "bat1"


def test_explanation_is_number_checked_or_template(assistant: Assistant) -> None:
    routed = assistant.explain(RECORD)
    text = routed.value.text
    assert text
    if routed.value.source == "model":
        from forecasting.explain import unknown_numbers

        assert unknown_numbers(text, RECORD) == ()
    else:
        assert routed.fallback and "bat1" in text and routed.value.reason
    assert assistant.router.snapshot()["tasks"]["explain"]["calls"] == 1


def test_deadline_stops_generation_early(llm: LocalLLM) -> None:
    import time

    done = llm.chat(
        "be verbose", "describe a battery in detail", max_tokens=200, deadline=time.monotonic()
    )
    assert done.completion_tokens < 200


def test_ask_cli_with_the_llm_never_dispatches(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    config = str(REPO / "configs" / "demo-feeder.yaml")
    text = "kindly get bat1 to give 60 kW back to the grid"  # no verb the rules know
    assert main(["ask", text, "--config", config, "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["dispatched"] is False
    assert out["attempts"][0] == "rules: declined" and out["attempts"][1].startswith("llm: ")
    if out["command"] is not None:
        assert out["verdict"]["outcome"] in ("accepted", "clamped", "rejected")

"""Issue #16 item 10: the sign of a request's value comes from its verb, on every path.

``gridaios ask "charge bat1 with 90 kW until 03:30"`` once previewed +90 kW (a
discharge) and showed it auto-approved: the LLM tier returned ``charge, 90`` and
the preview took the number's sign. Here the real CLI runs as a subprocess (the
LLM tier enabled, as an operator runs it), and each other path -- the LLM slot
filler's grounding, the operator-intent agent behind ``--propose`` -- is given a
charge with a positive number, as a model would write it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safety import StateSnapshot

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs" / "demo-feeder.yaml")


def _ask(text: str, *extra: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "firmware-bridge")])}
    done = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "ask", text, "--config", CONFIG, "--json", *extra],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


@pytest.mark.parametrize(
    "text",
    [
        "charge bat1 with 90 kW until 03:30",
        "please charge the community battery with 90 kW",
        "CHARGE BAT1 90KW",
        "chrage bat1 at 90 kw",
        "charge bat1 at +90 kW",
    ],
)
def test_a_charge_is_never_previewed_as_a_discharge(text: str) -> None:
    out = _ask(text)
    command, verdict = out["command"], out["verdict"]
    assert isinstance(command, dict) and isinstance(verdict, dict), out
    assert command["value"] < 0, out
    assert verdict["value"] is None or verdict["value"] <= 0, out
    assert "charge" in str(out["readback"]) and "discharge" not in str(out["readback"])


def test_a_discharge_with_a_negative_number_is_still_a_discharge() -> None:
    out = _ask("discharge bat1 at -80 kW", "--no-llm")
    command = out["command"]
    assert isinstance(command, dict) and command["value"] == 80.0


def test_the_llm_slots_get_their_sign_from_the_verb() -> None:
    from runtime.config.model import load_config
    from runtime.words.slots import ground
    from runtime.words.understand import understand
    from runtime.words.vocab import vocabulary

    vocab = vocabulary(load_config(CONFIG))
    now = datetime(2026, 6, 15, 15, 10, tzinfo=UTC)
    zone = ZoneInfo("Europe/Berlin")
    # the slots of a request the rules gave up on; the model writes the number unsigned
    u = replace(understand("charge bat1 at 90 kW until 20:00", vocab, now, zone), kind="unknown")
    model = '{"action": "charge", "asset": "bat1", "value": 90, "until": "20:00", "minutes": 0}'
    filled = ground(model, u, vocab, now, zone, 900)
    assert filled.is_command and filled.value == -90.0
    # a request without a verb is never given one by the model
    verbless = understand("shove 90 into bat1 until 20:00", vocab, now, zone)
    assert not verbless.is_command
    assert not ground(model, verbless, vocab, now, zone, 900).is_command
    # a model output whose direction contradicts the request's verb is not accepted
    said = replace(understand("discharge bat1 at 90 kW", vocab, now, zone), kind="unknown")
    lying = '{"action": "charge", "asset": "bat1", "value": 90, "until": "", "minutes": 0}'
    assert not ground(lying, said, vocab, now, zone, 900).is_command


def test_the_proposing_agent_signs_a_charge_negative(tmp_path: Path) -> None:
    """``--propose``: the conductor's operator-intent agent makes the queued intent a command."""
    from forecasting.intent import Intent
    from runtime.agents.base import Perception
    from runtime.agents.intent import OperatorIntentAgent, OperatorRequest
    from runtime.config.model import load_config

    config = load_config(CONFIG)
    now = datetime(2026, 6, 15, 15, 10, tzinfo=UTC)
    req = OperatorRequest(
        request_id="r1",
        user="op1",
        text="charge bat1 with 90 kW",
        intent=Intent(action="charge", asset="bat1", value=90.0, until=""),
        tier="llm",
        received_at=now - timedelta(seconds=1),
    )
    perception = Perception(snapshot=StateSnapshot(), requests=(req,))
    decision = OperatorIntentAgent().decide(perception, config, now)
    assert [p.command.value for p in decision.proposals] == [-90.0]


@given(
    action=st.sampled_from(
        ["charge", "discharge", "hold", "curtail", "stop", "standby", "release"]
    ),
    value=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)
def test_one_sign_rule(action: str, value: float) -> None:
    from runtime.words.sign import signed_value

    v = signed_value(action, value)
    if action == "charge":
        assert v <= 0
    elif action in ("discharge", "curtail"):
        assert v >= 0
    elif action == "hold":
        assert v == value
    else:
        assert v == 0

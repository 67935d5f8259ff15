"""Scoring helpers shared by the gating test and the benchmark: the real gate, a real log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from runtime.cli.ask import assumed_state
from runtime.config import site
from runtime.config.model import load_config
from runtime.log.eventlog import EventLog
from runtime.words import evaluate as E
from runtime.words.answer import answer
from runtime.words.command import to_command
from runtime.words.understand import Understood
from runtime.words.vocab import vocabulary
from safety import evaluate
from tests.words import fixture as F

EVAL = Path(__file__).parent / "eval"
ZONE = ZoneInfo(E.EVAL_ZONE)
CONFIG = load_config(Path(__file__).resolve().parents[2] / "configs" / "demo-feeder.yaml")
VOCAB = vocabulary(CONFIG)
DEFAULT_S = CONFIG.agents.operator_intent.command_duration_s


def _accepted_as_asked(u: Understood) -> bool:
    command = to_command(u, key="eval", now=E.EVAL_NOW)
    assert command is not None
    verdict = evaluate(
        [command], assumed_state(CONFIG, E.EVAL_NOW), site.envelope(CONFIG), E.EVAL_NOW
    )[0]
    return str(verdict.outcome) == "accepted" and verdict.value == command.value


def make_answered(log: EventLog) -> Callable[[Understood, str], bool]:
    def answered(u: Understood, expected: str) -> bool:
        if u.question is None:
            return False
        text = answer(
            u.question, log, VOCAB, E.EVAL_NOW, ZONE, forecast_peak=lambda: F.FORECAST_PEAK
        )
        topic, *rest = expected.split()
        if topic == "reading":
            point = f"{rest[0]}.{rest[1]}"
            value, age = F.READINGS[point]
            return point in text and f"{value:g}" in text and f"{age} s old" in text
        if topic == "why":
            want = {"16:05": (F.DISPATCH_A, "180 kW"), "16:50": (F.DISPATCH_B, "30 %")}[rest[0]]
            return all(w in text for w in want)
        if topic == "pending":
            return F.PENDING in text and "240" in text
        if topic == "since":
            after = {
                "16:00": [F.DISPATCH_A, F.DISPATCH_B, F.PENDING],
                "16:30": [F.DISPATCH_B, F.PENDING],
            }[rest[0]]
            before = [d for d in (F.DISPATCH_A, F.DISPATCH_B, F.PENDING) if d not in after]
            return all(d in text for d in after) and not any(d in text for d in before)
        if topic == "forecast":
            return "1187 kW" in text and "19:45" in text
        raise AssertionError(f"unknown expected question {expected!r}")

    return answered


ACCEPTED_AS_ASKED = _accepted_as_asked

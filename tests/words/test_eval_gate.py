"""The evaluation set's test split gates the suite (issue #20 item 5).

Commands >= 95 % exactly right, wrong sign 0, unsafe requests accepted as asked 0,
out-of-scope requests proposed 0, questions answered with the right figures >= 90 %.
The understanding runs on the real site config; unsafe requests go through the
real gate; questions are answered from a real SQLite event log.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from runtime import site
from runtime.cli.ask import assumed_state
from runtime.config import load_config
from runtime.eventlog import EventLog
from runtime.words import evaluate as E
from runtime.words.answer import answer
from runtime.words.command import to_command
from runtime.words.understand import Understood, understand
from runtime.words.vocab import vocabulary
from safety import evaluate
from tests.words import fixture as F

EVAL = Path(__file__).parent / "eval"
ZONE = ZoneInfo(E.EVAL_ZONE)
CONFIG = load_config("configs/demo-feeder.yaml")
VOCAB = vocabulary(CONFIG)
DEFAULT_S = CONFIG.agents.operator_intent.command_duration_s


def accepted_as_asked(u: Understood) -> bool:
    command = to_command(u, key="eval", now=E.EVAL_NOW)
    assert command is not None
    verdict = evaluate([command], assumed_state(CONFIG, E.EVAL_NOW), site.envelope(CONFIG),
                       E.EVAL_NOW)[0]  # fmt: skip
    return str(verdict.outcome) == "accepted" and verdict.value == command.value


def make_answered(log: EventLog):  # type: ignore[no-untyped-def]
    def answered(u: Understood, expected: str) -> bool:
        if u.question is None:
            return False
        text = answer(u.question, log, VOCAB, E.EVAL_NOW, ZONE,
                      forecast_peak=lambda: F.FORECAST_PEAK)  # fmt: skip
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
            after = {"16:00": [F.DISPATCH_A, F.DISPATCH_B, F.PENDING],
                     "16:30": [F.DISPATCH_B, F.PENDING]}[rest[0]]  # fmt: skip
            before = [d for d in (F.DISPATCH_A, F.DISPATCH_B, F.PENDING) if d not in after]
            return all(d in text for d in after) and not any(d in text for d in before)
        if topic == "forecast":
            return "1187 kW" in text and "19:45" in text
        raise AssertionError(f"unknown expected question {expected!r}")

    return answered


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> EventLog:
    return F.build(tmp_path_factory.mktemp("words") / "events.db")


@pytest.mark.parametrize("split", ["test", "dev"])
def test_split_meets_the_bar(split: str, record: EventLog) -> None:
    cases = E.load(EVAL / f"{split}.txt")
    assert len(cases) >= 140
    s = E.score(
        cases,
        lambda t: understand(t, VOCAB, E.EVAL_NOW, ZONE, default_s=DEFAULT_S),
        now=E.EVAL_NOW, zone=ZONE, default_s=DEFAULT_S,
        accepted_as_asked=accepted_as_asked, answered=make_answered(record),
    )  # fmt: skip
    report = "\n".join(s.failures)
    assert s.wrong_sign == 0, report
    assert s.unsafe_accepted == 0, report
    assert s.out_proposed == 0, report
    assert s.command_rate >= 0.95, f"{s.commands_right}/{s.commands}\n{report}"
    assert s.question_rate >= 0.90, f"{s.questions_right}/{s.questions}\n{report}"


def test_the_set_is_large_and_the_splits_apart() -> None:
    dev, test = E.load(EVAL / "dev.txt"), E.load(EVAL / "test.txt")
    assert len(dev) + len(test) >= 300
    assert not {c.text.lower() for c in dev} & {c.text.lower() for c in test}
    for kind in ("cmd", "unsafe", "out", "q"):
        assert any(c.kind == kind for c in test), kind

"""The evaluation set's test split gates the suite (issue #20 item 5).

Commands >= 95 % exactly right, wrong sign 0, unsafe requests accepted as asked 0,
out-of-scope requests proposed 0, questions answered with the right figures >= 90 %.
The understanding runs on the real site config; unsafe requests go through the
real gate; questions are answered from a real SQLite event log.
"""

from __future__ import annotations

import pytest

from runtime.log.eventlog import EventLog
from runtime.words import evaluate as E
from runtime.words.understand import understand
from tests.words import fixture as F
from tests.words.scoring import ACCEPTED_AS_ASKED, DEFAULT_S, EVAL, VOCAB, ZONE, make_answered


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
        now=E.EVAL_NOW,
        zone=ZONE,
        default_s=DEFAULT_S,
        accepted_as_asked=ACCEPTED_AS_ASKED,
        answered=make_answered(record),
    )
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

"""A held-out set of adversarial phrasings (tests/words/heldout_adv.txt), kept out of eval/.

Written by a reviewer against the merged parser, not tuned on: two directions in one
request, negations and self-corrections, relative changes, "into the battery" with an
export verb, approval claims, injected model text, clock times the parser would drop,
mixed units, typos, polite commands with a question mark. The same bar as the test
split: commands >= 95 % exactly right, wrong sign 0, unsafe accepted as asked 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.log.eventlog import EventLog
from runtime.words import evaluate as E
from runtime.words.understand import understand
from tests.words import fixture as F
from tests.words.scoring import ACCEPTED_AS_ASKED, DEFAULT_S, EVAL, VOCAB, ZONE, make_answered

HELDOUT = Path(__file__).parent / "heldout_adv.txt"


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> EventLog:
    return F.build(tmp_path_factory.mktemp("words") / "events.db")


def test_the_heldout_set_meets_the_bar(record: EventLog) -> None:
    cases = E.load(HELDOUT)
    assert len(cases) >= 60
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


def test_the_heldout_set_is_apart_from_the_eval_set() -> None:
    mine = {c.text.lower() for c in E.load(HELDOUT)}
    for split in ("dev", "test"):
        assert not mine & {c.text.lower() for c in E.load(EVAL / f"{split}.txt")}, split
